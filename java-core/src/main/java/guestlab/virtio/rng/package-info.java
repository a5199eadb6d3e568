/** virtio-rng on the wire (virtio 1.x section 5.4): a chain parsed into the buffers the device fills ({@link guestlab.virtio.rng.EntropyRequest}). */
package guestlab.virtio.rng;

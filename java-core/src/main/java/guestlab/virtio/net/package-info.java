/** virtio-net on the wire (virtio 1.x section 5.1): its constants ({@link guestlab.virtio.net.NetSpec}) and a transmit chain parsed into a typed {@link guestlab.virtio.net.NetTxRequest}. */
package guestlab.virtio.net;

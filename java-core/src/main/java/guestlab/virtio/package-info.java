/**
 * The virtio 1.x spec as guestlab implements its device side: the split virtqueue (section 2.7)
 * with every index, address and length validated ({@link guestlab.virtio.DeviceQueue}), typed
 * faults ({@link guestlab.virtio.RingFault}), feature bits and status, and the
 * {@link guestlab.virtio.VirtioDevice} contract every device implements and every transport serves.
 * It knows no device and no transport.
 */
package guestlab.virtio;

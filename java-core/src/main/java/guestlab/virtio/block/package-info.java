/** virtio-blk on the wire (virtio 1.x section 5.2): its constants ({@link guestlab.virtio.block.BlockSpec}), a chain parsed into a typed {@link guestlab.virtio.block.BlockRequest}, and the {@link guestlab.virtio.block.BlockCompletion} a handler returns. Shared by the device and the simulated driver; it knows no device. */
package guestlab.virtio.block;

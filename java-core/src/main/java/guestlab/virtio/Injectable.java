package guestlab.virtio;

/**
 * A device whose receive queue the host feeds: injected bytes reach the guest as data from
 * outside would (a frame off the wire, a keystroke). The device puts them in the next buffer the
 * driver has posted on {@link #receiveQueue()} and interrupts, as the device side of a virtqueue
 * does (section 2.7.7); the driver keeps sole ownership of its avail ring.
 */
public interface Injectable {
    int receiveQueue();

    /**
     * Queues {@code data} for the guest and wakes the receive queue.
     *
     * @throws IllegalArgumentException the data cannot be what this device receives
     * @throws IllegalStateException    the device cannot take it now (no driver, link down, backlog full)
     */
    void inject(byte[] data);
}

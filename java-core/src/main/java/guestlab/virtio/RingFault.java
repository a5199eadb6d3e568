package guestlab.virtio;

/**
 * The driver broke the virtqueue rules (a loop, a chain longer than the queue, a buffer outside
 * guest memory, ...). The device that sees it goes NEEDS_RESET; nothing outside guest memory
 * has been touched.
 */
public final class RingFault extends Exception {
    public RingFault(String message) {
        super(message);
    }
}

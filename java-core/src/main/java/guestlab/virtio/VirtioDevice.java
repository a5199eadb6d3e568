package guestlab.virtio;

/**
 * A virtio device as guestlab implements it: its identity, features, queues and config space,
 * and the work it does on its queues. A device knows nothing of its transport (the lguest bus,
 * vhost-user): the transport negotiates, lays out the rings, and calls {@link #handle} on the
 * queue's own device thread when the driver kicks it or the device asked to be woken.
 */
public interface VirtioDevice extends AutoCloseable {
    /** Virtio device ID ({@link DeviceType}). */
    int type();

    /** Features the device offers, transport-independent bits included. */
    long features();

    int queueCount();

    /** The largest ring the device accepts on queue {@code index} (a power of two). */
    int maxQueueSize(int index);

    /** The device-specific config space as the driver would read it now (section 4.x.4). */
    byte[] config();

    /**
     * The driver wrote {@code data} at {@code offset} in config space. Devices with no writable
     * fields ignore it (the spec's "device MUST ignore" for read-only fields).
     */
    default void writeConfig(int offset, byte[] data) {}

    /** The driver set DRIVER_OK: queues are ready in {@code context}. */
    void start(DeviceContext context);

    /**
     * Does whatever queue {@code index} has to do now. Called only on that queue's device
     * thread. A {@link RingFault} means the driver broke the ring: the caller marks the device
     * NEEDS_RESET and reports it.
     */
    void handle(int index) throws RingFault;

    /** The driver reset the device (status 0), or the guest is going away: forget the queues. */
    void reset();

    /** Releases host resources (open files, switch ports). The device is not used afterwards. */
    @Override
    default void close() {}
}

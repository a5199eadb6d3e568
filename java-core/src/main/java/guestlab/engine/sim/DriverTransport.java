package guestlab.engine.sim;

import guestlab.virtio.VringLayout;

/**
 * The transport's part of a simulated driver (virtio 1.x section 4): where the driver reads the
 * device's features, status and config, how it tells the device where each ring is, how it
 * notifies a queue and how it waits for the device's interrupt. {@link SimDriver} does the rest,
 * the same on every transport; {@link LguestDriverTransport} is the lguest bus's.
 */
interface DriverTransport {
    /** The features the device offers. */
    long deviceFeatures();

    /** The features the driver will use (written before FEATURES_OK, section 3.1.1). */
    void driverFeatures(long features);

    /** The device status byte as the device shows it now (with NEEDS_RESET if it broke). */
    int status();

    /** Sets the status byte; the device acts on it before this returns. */
    void setStatus(int status);

    int queueCount();

    /** Places queue {@code q}'s ring in guest memory and tells the device where it is. */
    VringLayout placeQueue(int q);

    /** The device's config space now. */
    byte[] config();

    /** Tells the device that queue {@code q} has new buffers (the ring at {@code ring}). */
    void notify(int q, VringLayout ring);

    /** Waits up to {@code nanos} for queue {@code q}'s interrupt; how many came (folded into one wake-up), 0 if none. */
    long awaitInterrupt(int q, long nanos) throws InterruptedException;

    /** Who hears of the driver's ring activity: nobody where the device is served in this JVM and reports it itself. */
    default RingObserver observer() {
        return RingObserver.NONE;
    }
}

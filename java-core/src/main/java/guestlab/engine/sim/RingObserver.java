package guestlab.engine.sim;

import guestlab.virtio.driver.DriverQueue;

/**
 * What a simulated driver tells about its rings as it drives them. Devices served in this JVM
 * count and publish their rings' activity from the device's side, so their drivers tell
 * {@link #NONE}; a device served elsewhere has no device side here, and its driver tells
 * {@link DriverSideRings}.
 */
interface RingObserver {
    /** Nobody listens: the device side reports. */
    RingObserver NONE = new RingObserver() {};

    /** The driver has placed its rings (section 3.1.1), queue {@code q} at {@code queues[q]}. */
    default void placed(DriverQueue[] queues) {}

    /** The driver offered chain {@code head} on queue {@code q}, {@code readable} bytes for the device to read. */
    default void offered(int q, int head, long readable) {}

    /** The driver notified the device of queue {@code q}. */
    default void kicked(int q) {}

    /** The driver saw {@code count} interrupts of queue {@code q} (an eventfd folds them into one wake-up). */
    default void interrupted(int q, long count) {}

    /** The driver collected {@code used} from queue {@code q}'s used ring. */
    default void collected(int q, DriverQueue.Used used) {}

    /** The driver found queue {@code q} (or the device, -1) broken, for the reason {@code detail} gives. */
    default void broke(int q, String detail) {}
}

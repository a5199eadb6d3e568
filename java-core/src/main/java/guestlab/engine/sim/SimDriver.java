package guestlab.engine.sim;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.Features;

import java.time.Duration;
import java.util.List;

/**
 * What every simulated driver does, whatever its transport: the virtio initialization sequence
 * (negotiate features, place its rings, set status step by step), and then requests: add buffers,
 * kick if the device wants it, wait for the queue's interrupt. Where those land is the
 * {@link DriverTransport}'s business.
 */
abstract class SimDriver {
    /** Ring features every simulated driver understands. */
    static final long RING_FEATURES = Features.RING_COMMON;

    protected final String name;
    protected final GuestMemory mem;
    protected final GuestPages pages;
    protected final Duration timeout;
    private final DriverTransport transport;
    protected DriverQueue[] queues;
    protected long features;

    SimDriver(String name, GuestMemory mem, GuestPages pages, DriverTransport transport, Duration timeout) {
        this.name = name;
        this.mem = mem;
        this.pages = pages;
        this.transport = transport;
        this.timeout = timeout;
    }

    /** Device-specific feature bits this driver understands (beyond {@link #RING_FEATURES}). */
    abstract long driverFeatures();

    /** Called once the device is live (DRIVER_OK), e.g. to post receive buffers. */
    void started() {}

    /** The virtio initialization sequence (section 3.1.1). */
    final void probe() {
        transport.setStatus(DeviceStatus.ACKNOWLEDGE);
        transport.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        features = transport.deviceFeatures() & (RING_FEATURES | driverFeatures());
        transport.driverFeatures(features);
        transport.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        if ((transport.status() & DeviceStatus.FEATURES_OK) == 0) {
            transport.setStatus(transport.status() | DeviceStatus.FAILED);
            throw new IllegalStateException(name + " refused the features the driver asked for");
        }
        queues = new DriverQueue[transport.queueCount()];
        for (int q = 0; q < queues.length; q++) queues[q] = new DriverQueue(mem, transport.placeQueue(q), features);
        transport.setStatus(transport.status() | DeviceStatus.DRIVER_OK);
        started();
    }

    final byte[] config() {
        return transport.config();
    }

    final boolean negotiated(int bit) {
        return Features.has(features, bit);
    }

    /** Notifies the device of queue {@code q}'s new buffers, only if it asked (section 2.7.13.5). */
    final void kick(int q) {
        if (queues[q].kickNeeded()) transport.notify(q, queues[q].layout());
    }

    /** Offers a chain on queue {@code q}, kicks, and waits for the device to return it. */
    final DriverQueue.Used roundTrip(int q, List<Buffer> out, List<Buffer> in) {
        if (queues[q].add(out, in) < 0) throw new IllegalStateException(name + " queue " + q + " is full");
        kick(q);
        return awaitUsed(q, timeout);
    }

    /** The next used buffer on queue {@code q}, waiting for its interrupt; null if none came in time. */
    final DriverQueue.Used pollUsed(int q, Duration wait) {
        DriverQueue.Used u = queues[q].pollUsed();
        if (u != null || wait.isZero()) return u;
        long deadline = System.nanoTime() + wait.toNanos();
        try {
            while (true) {
                checkAlive();
                long left = deadline - System.nanoTime();
                if (left <= 0) return queues[q].pollUsed();
                transport.awaitInterrupt(q, Math.min(left, 50_000_000L));
                u = queues[q].pollUsed();
                if (u != null) return u;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + name, e);
        }
    }

    private DriverQueue.Used awaitUsed(int q, Duration wait) {
        DriverQueue.Used u = pollUsed(q, wait);
        if (u == null) {
            throw new SimTimeoutException(name + " queue " + q + ": the device did not answer within " + wait
                    + " (status " + DeviceStatus.describe(transport.status()) + ")");
        }
        return u;
    }

    private void checkAlive() {
        if ((transport.status() & DeviceStatus.NEEDS_RESET) != 0) {
            throw new IllegalStateException(name + " is broken (NEEDS_RESET): see the guest's DEVICE_ERROR event");
        }
    }
}

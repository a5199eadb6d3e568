package guestlab.engine.sim;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.Features;
import guestlab.virtio.RingFault;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.driver.UsedRingFault;

import java.time.Duration;
import java.util.List;

/**
 * What every simulated driver does, whatever its transport: the virtio initialization sequence
 * (negotiate features, place its rings, set status step by step), and then requests: add buffers,
 * kick if the device wants it, wait for the queue's interrupt. Where those land is the
 * {@link DriverTransport}'s business; who hears of it, its {@link RingObserver}'s. A device that
 * breaks its used ring or says it needs a reset gives a clear error, never a hang: the queue
 * stays broken and every later request on it fails at once.
 */
abstract class SimDriver {
    /** Ring features every simulated driver understands. */
    static final long RING_FEATURES = Features.RING_COMMON;

    protected final String name;
    protected final GuestMemory mem;
    protected final GuestPages pages;
    protected final Duration timeout;
    private final DriverTransport transport;
    private final RingObserver observer;
    protected DriverQueue[] queues;
    protected long features;
    private boolean needsResetSeen;
    /** The device was unplugged: the driver let it go and takes no more requests. */
    private volatile boolean removed;

    SimDriver(String name, GuestMemory mem, GuestPages pages, DriverTransport transport, Duration timeout) {
        this.name = name;
        this.mem = mem;
        this.pages = pages;
        this.transport = transport;
        this.observer = transport.observer();
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
        observer.placed(queues);
        transport.setStatus(transport.status() | DeviceStatus.DRIVER_OK);
        started();
    }

    /**
     * The device is going away (hot-unplug): once the request in progress, if any, is done, the
     * driver resets the device (status 0, section 2.4), as a Linux driver's remove does
     * (virtio_dev_remove ends with virtio_reset_device); every later request fails at once.
     * Subclasses' requests hold this object's lock, as this does.
     */
    final synchronized void remove() {
        removed = true;
        transport.setStatus(0);
    }

    final byte[] config() {
        return transport.config();
    }

    final boolean negotiated(int bit) {
        return Features.has(features, bit);
    }

    /** Notifies the device of queue {@code q}'s new buffers, only if it asked (section 2.7.13.5). */
    final void kick(int q) {
        if (queues[q].kickNeeded()) {
            transport.notify(q, queues[q].layout());
            observer.kicked(q);
        }
    }

    /** Offers a chain on queue {@code q} (readable {@code out}, then writable {@code in}) without kicking. */
    final void offer(int q, List<Buffer> out, List<Buffer> in) {
        requirePresent();
        if (queues[q].fault() != null) throw broken(q, queues[q].brokenReason());
        int head = queues[q].add(out, in);
        if (head < 0) throw new IllegalStateException(name + " queue " + q + " is full");
        long readable = 0;
        for (Buffer b : out) readable += b.len();
        observer.offered(q, head, readable);
    }

    /** Offers a chain on queue {@code q}, kicks, and waits for the device to return it. */
    final DriverQueue.Used roundTrip(int q, List<Buffer> out, List<Buffer> in) {
        offer(q, out, in);
        kick(q);
        return awaitUsed(q, timeout);
    }

    /** The next used buffer on queue {@code q}, waiting for its interrupt; null if none came in time. */
    final DriverQueue.Used pollUsed(int q, Duration wait) {
        requirePresent();
        DriverQueue.Used u = collect(q);
        if (u != null || wait.isZero()) return u;
        long deadline = System.nanoTime() + wait.toNanos();
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return collect(q);
                long interrupts = transport.awaitInterrupt(q, Math.min(left, 50_000_000L));
                if (interrupts > 0) observer.interrupted(q, interrupts);
                u = collect(q);
                if (u != null) return u;
                if (interrupts == 0) checkAlive(); // a broken device stops interrupting: ask why it is quiet
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + name, e);
        }
    }

    /** The next used buffer on queue {@code q} if there is one; a used ring that breaks the rules breaks the queue. */
    private DriverQueue.Used collect(int q) {
        DriverQueue.Used u;
        try {
            u = queues[q].pollUsed();
        } catch (UsedRingFault f) {
            if (f.reason() != RingFault.Reason.QUEUE_BROKEN) observer.broke(q, "the device broke queue " + q + "'s used ring: " + f.getMessage());
            throw broken(q, f.getMessage());
        }
        if (u != null) observer.collected(q, u);
        return u;
    }

    private void requirePresent() {
        if (removed) throw new IllegalStateException(name + " was unplugged");
    }

    private IllegalStateException broken(int q, String why) {
        return new IllegalStateException(name + " queue " + q + " is broken until the device is reset: " + why);
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
        if ((transport.status() & DeviceStatus.NEEDS_RESET) == 0) return;
        if (!needsResetSeen) {
            needsResetSeen = true;
            for (DriverQueue dq : queues) dq.fail(RingFault.Reason.DEVICE_NEEDS_RESET, "the device set NEEDS_RESET");
            observer.broke(-1, "the device set NEEDS_RESET (section 2.1.2); why is for the device's side to say");
        }
        throw new IllegalStateException(name + " is broken (NEEDS_RESET): see the guest's DEVICE_ERROR event");
    }
}

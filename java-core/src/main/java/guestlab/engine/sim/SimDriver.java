package guestlab.engine.sim;

import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LguestVqConfig;
import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.Features;

import java.time.Duration;
import java.util.List;

/**
 * What every simulated driver does on the lguest bus, as lguest_device.c did it: read its
 * descriptor from the device page, negotiate features, place its rings and write their pfns,
 * set status — each status change followed by a notify of the descriptor's address — and then
 * run requests: add buffers, kick if the device wants it, wait for the queue's interrupt.
 */
abstract class SimDriver {
    /** Ring features every simulated driver understands. */
    static final long RING_FEATURES = Features.RING_COMMON;

    protected final String name;
    protected final GuestMemory mem;
    protected final SimHypervisor hv;
    protected final GuestPages pages;
    protected final long desc;
    protected final Duration timeout;
    private final int numVq;
    private final int featureLen;
    private final int configLen;
    protected DriverQueue[] queues;
    private int[] irqs;
    protected long features;

    SimDriver(String name, GuestMemory mem, SimHypervisor hv, GuestPages pages, long desc, Duration timeout) {
        this.name = name;
        this.mem = mem;
        this.hv = hv;
        this.pages = pages;
        this.desc = desc;
        this.timeout = timeout;
        this.numVq = mem.readU8(desc + LguestDeviceDesc.NUM_VQ_OFFSET);
        this.featureLen = mem.readU8(desc + LguestDeviceDesc.FEATURE_LEN_OFFSET);
        this.configLen = mem.readU8(desc + LguestDeviceDesc.CONFIG_LEN_OFFSET);
    }

    /** Device-specific feature bits this driver understands (beyond {@link #RING_FEATURES}). */
    abstract long driverFeatures();

    /** Called once the device is live (DRIVER_OK), e.g. to post receive buffers. */
    void started() {}

    /** The virtio initialization sequence (section 3.1.1) over the lguest device page. */
    final void probe() {
        setStatus(DeviceStatus.ACKNOWLEDGE);
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        byte[] host = mem.read(desc + LguestDeviceDesc.hostFeaturesOffset(numVq), featureLen);
        features = LguestDeviceDesc.featureBits(host) & (RING_FEATURES | driverFeatures());
        mem.write(desc + LguestDeviceDesc.guestFeaturesOffset(numVq, featureLen),
                LguestDeviceDesc.featureBytes(features, featureLen));
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        if ((status() & DeviceStatus.FEATURES_OK) == 0) {
            setStatus(status() | DeviceStatus.FAILED);
            throw new IllegalStateException(name + " refused the features the driver asked for");
        }
        queues = new DriverQueue[numVq];
        irqs = new int[numVq];
        for (int q = 0; q < numVq; q++) {
            long vq = desc + LguestDeviceDesc.vqOffset(q);
            int num = mem.readU16(vq + LguestVqConfig.NUM_OFFSET);
            irqs[q] = mem.readU16(vq + LguestVqConfig.IRQ_OFFSET);
            long ring = pages.allocate((long) LguestRing.pages(num) * LguestRing.PAGE_SIZE);
            long pfn = ring / LguestRing.PAGE_SIZE;
            queues[q] = new DriverQueue(mem, LguestRing.at(pfn, num), features);
            mem.writeU32(vq + LguestVqConfig.PFN_OFFSET, pfn);
        }
        setStatus(status() | DeviceStatus.DRIVER_OK);
        started();
    }

    final int status() {
        return mem.readU8(desc + LguestDeviceDesc.STATUS_OFFSET);
    }

    /** lg_set_status(): write the byte, then tell the launcher through a notify of the descriptor. */
    final void setStatus(int status) {
        mem.writeU8(desc + LguestDeviceDesc.STATUS_OFFSET, status);
        hv.notify(desc);
    }

    final byte[] config() {
        return mem.read(desc + LguestDeviceDesc.configOffset(numVq, featureLen), configLen);
    }

    final boolean negotiated(int bit) {
        return Features.has(features, bit);
    }

    /** lg_notify(): the kick is a notify of the ring's address, sent only if the device asked. */
    final void kick(int q) {
        if (queues[q].kickNeeded()) hv.notify(queues[q].layout().desc());
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
                hv.interrupts().await(irqs[q], Math.min(left, 50_000_000L));
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
                    + " (status " + DeviceStatus.describe(status()) + ")");
        }
        return u;
    }

    private void checkAlive() {
        if ((status() & DeviceStatus.NEEDS_RESET) != 0) {
            throw new IllegalStateException(name + " is broken (NEEDS_RESET): see the guest's DEVICE_ERROR event");
        }
    }
}

package guestlab.transport.lguest;

import guestlab.engine.sim.SimHypervisor;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LguestVqConfig;
import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.driver.DriverQueue;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Plays a guest driver against one descriptor of the device page, byte by byte, as lguest's
 * lguest_device.c did: every status write is followed by a notify of the descriptor's address,
 * and a kick is a notify of the ring's address.
 */
final class PageDriver {
    private final GuestMemory mem;
    private final SimHypervisor hv;
    final long desc;
    private final int numVq;
    private final int featureLen;
    private final DriverQueue[] rings;

    PageDriver(GuestMemory mem, SimHypervisor hv, long desc) {
        this.mem = mem;
        this.hv = hv;
        this.desc = desc;
        this.numVq = mem.readU8(desc + LguestDeviceDesc.NUM_VQ_OFFSET);
        this.featureLen = mem.readU8(desc + LguestDeviceDesc.FEATURE_LEN_OFFSET);
        this.rings = new DriverQueue[numVq];
    }

    int status() {
        return mem.readU8(desc + LguestDeviceDesc.STATUS_OFFSET);
    }

    void setStatus(int status) {
        mem.writeU8(desc + LguestDeviceDesc.STATUS_OFFSET, status);
        hv.notify(desc);
    }

    long hostFeatures() {
        return LguestDeviceDesc.featureBits(mem.read(desc + LguestDeviceDesc.hostFeaturesOffset(numVq), featureLen));
    }

    void ackFeatures(long features) {
        mem.write(desc + LguestDeviceDesc.guestFeaturesOffset(numVq, featureLen),
                LguestDeviceDesc.featureBytes(features, featureLen));
    }

    int vqIrq(int q) {
        return mem.readU16(desc + LguestDeviceDesc.vqOffset(q) + LguestVqConfig.IRQ_OFFSET);
    }

    /** Places queue {@code q}'s ring at page {@code pfn} and writes the pfn into its vqconfig. */
    DriverQueue placeRing(int q, long pfn, long features) {
        long vq = desc + LguestDeviceDesc.vqOffset(q);
        int num = mem.readU16(vq + LguestVqConfig.NUM_OFFSET);
        rings[q] = new DriverQueue(mem, LguestRing.at(pfn, num), features);
        writePfn(q, pfn);
        return rings[q];
    }

    /** Only writes the pfn, as a driver that never set up the ring there would. */
    void writePfn(int q, long pfn) {
        mem.writeU32(desc + LguestDeviceDesc.vqOffset(q) + LguestVqConfig.PFN_OFFSET, pfn);
    }

    long configAddress() {
        return desc + LguestDeviceDesc.configOffset(numVq, featureLen);
    }

    /** The whole initialization sequence (virtio 1.x section 3.1.1), rings from page {@code firstPfn} on. */
    void boot(long features, long firstPfn) {
        negotiate(features);
        long pfn = firstPfn;
        for (int q = 0; q < numVq; q++) {
            DriverQueue ring = placeRing(q, pfn, features);
            pfn += LguestRing.pages(ring.layout().size());
        }
        setStatus(status() | DeviceStatus.DRIVER_OK);
    }

    /** ACKNOWLEDGE, DRIVER, the guest's features, FEATURES_OK. */
    void negotiate(long features) {
        setStatus(DeviceStatus.ACKNOWLEDGE);
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        ackFeatures(features);
        setStatus(status() | DeviceStatus.FEATURES_OK);
    }

    /** Kicks queue {@code q} the lguest way: a notify of the ring's address, if the device wants one. */
    void kick(int q) {
        if (rings[q].kickNeeded()) hv.notify(rings[q].layout().desc());
    }

    /** Offers {@code data} at {@code buf} with as many writable bytes after it, and kicks. */
    void offer(int q, byte[] data, long buf) {
        mem.write(buf, data);
        rings[q].add(List.of(new Buffer(buf, data.length)), List.of(new Buffer(buf + data.length, data.length)));
        kick(q);
    }

    /**
     * {@link #offer}s {@code data}, waits for the queue's interrupt and returns what the device
     * wrote back (null if it did not answer within 5 s).
     */
    byte[] echo(int q, byte[] data, long buf) throws InterruptedException {
        offer(q, data, buf);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        DriverQueue.Used used;
        while ((used = rings[q].pollUsed()) == null) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return null;
            hv.interrupts().await(vqIrq(q), Math.min(left, TimeUnit.MILLISECONDS.toNanos(50)));
        }
        return mem.read(buf + data.length, used.len());
    }
}

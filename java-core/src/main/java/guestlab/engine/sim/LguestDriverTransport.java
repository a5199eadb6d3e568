package guestlab.engine.sim;

import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LguestVqConfig;
import guestlab.memory.GuestMemory;
import guestlab.virtio.VringLayout;

/**
 * A simulated driver's transport on the lguest bus, as lguest_device.c did it: the device's
 * descriptor in the device page holds its features, status, queues and config; every status
 * change is followed by a notify of the descriptor's address (lg_set_status); a ring's pfn is
 * written into its lguest_vqconfig; a kick is a notify of the ring's address (lg_notify); each
 * queue's interrupt is the irq its vqconfig names.
 */
final class LguestDriverTransport implements DriverTransport {
    private final GuestMemory mem;
    private final SimHypervisor hv;
    private final GuestPages pages;
    private final long desc;
    private final int numVq;
    private final int featureLen;
    private final int configLen;
    /** Each queue's irq, read once: the launcher gave them out and the driver keeps them. */
    private final int[] irqs;

    LguestDriverTransport(GuestMemory mem, SimHypervisor hv, GuestPages pages, long desc) {
        this.mem = mem;
        this.hv = hv;
        this.pages = pages;
        this.desc = desc;
        this.numVq = mem.readU8(desc + LguestDeviceDesc.NUM_VQ_OFFSET);
        this.featureLen = mem.readU8(desc + LguestDeviceDesc.FEATURE_LEN_OFFSET);
        this.configLen = mem.readU8(desc + LguestDeviceDesc.CONFIG_LEN_OFFSET);
        this.irqs = new int[numVq];
        for (int q = 0; q < numVq; q++) irqs[q] = mem.readU16(desc + LguestDeviceDesc.vqOffset(q) + LguestVqConfig.IRQ_OFFSET);
    }

    @Override
    public long deviceFeatures() {
        return LguestDeviceDesc.featureBits(mem.read(desc + LguestDeviceDesc.hostFeaturesOffset(numVq), featureLen));
    }

    @Override
    public void driverFeatures(long features) {
        mem.write(desc + LguestDeviceDesc.guestFeaturesOffset(numVq, featureLen),
                LguestDeviceDesc.featureBytes(features, featureLen));
    }

    @Override
    public int status() {
        return mem.readU8(desc + LguestDeviceDesc.STATUS_OFFSET);
    }

    /** lg_set_status(): write the byte, then tell the launcher through a notify of the descriptor. */
    @Override
    public void setStatus(int status) {
        mem.writeU8(desc + LguestDeviceDesc.STATUS_OFFSET, status);
        hv.notify(desc);
    }

    @Override
    public int queueCount() {
        return numVq;
    }

    /** The launcher chose the ring's size (num); the driver allocates it and writes its pfn. */
    @Override
    public VringLayout placeQueue(int q) {
        long vq = desc + LguestDeviceDesc.vqOffset(q);
        int num = mem.readU16(vq + LguestVqConfig.NUM_OFFSET);
        long ring = pages.allocate((long) LguestRing.pages(num) * LguestRing.PAGE_SIZE);
        long pfn = ring / LguestRing.PAGE_SIZE;
        mem.writeU32(vq + LguestVqConfig.PFN_OFFSET, pfn);
        return LguestRing.at(pfn, num);
    }

    @Override
    public byte[] config() {
        return mem.read(desc + LguestDeviceDesc.configOffset(numVq, featureLen), configLen);
    }

    /** lg_notify(): a notify of the ring's address. */
    @Override
    public void notify(int q, VringLayout ring) {
        hv.notify(ring.desc());
    }

    @Override
    public long awaitInterrupt(int q, long nanos) throws InterruptedException {
        return hv.interrupts().await(irqs[q], nanos) ? 1 : 0;
    }
}

package guestlab.engine.sim;

import guestlab.memory.MemfdMemory;
import guestlab.posix.EventFd;
import guestlab.vhostuser.VhostUserFrontend;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.VringLayout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A simulated driver's transport to a device served by any vhost-user back-end, with this JVM
 * as the front-end: the guest's RAM is shared whole (SET_MEM_TABLE), its rings are placed in it
 * and handed over with a kick, a call and an error eventfd each. vhost-user has no status byte:
 * the status is the driver's own, FEATURES_OK is when the features are sent (SET_FEATURES), and
 * NEEDS_RESET is a signal on a ring's error eventfd. No device side in this JVM sees the rings,
 * so the driver reports them ({@link DriverSideRings}).
 */
final class VhostUserDriverTransport implements DriverTransport, AutoCloseable {
    private final VhostUserFrontend frontend;
    private final MemfdMemory ram;
    private final GuestPages pages;
    private final int queues;
    private final int queueSize;
    private final int configSize;
    private final List<EventFd> kicks = new ArrayList<>();
    private final List<EventFd> calls = new ArrayList<>();
    private final List<EventFd> errors = new ArrayList<>();
    private final DriverSideRings rings;
    private long features;
    private int status;
    private volatile boolean needsReset;

    /**
     * @param queues     how many queues the driver sets up
     * @param queueSize  their size: vhost-user has no message that tells a back-end's largest, so
     *                   the front-end picks it, as QEMU does per device (128 for a disk, 4 for rng)
     * @param configSize the config space bytes the driver reads
     * @param rings      where the driver reports its rings' activity
     */
    VhostUserDriverTransport(VhostUserFrontend frontend, MemfdMemory ram, GuestPages pages, int queues, int queueSize,
                             int configSize, DriverSideRings rings) {
        this.frontend = frontend;
        this.rings = rings;
        this.ram = ram;
        this.pages = pages;
        this.queues = queues;
        this.queueSize = queueSize;
        this.configSize = configSize;
    }

    @Override
    public long deviceFeatures() {
        return frontend.deviceFeatures();
    }

    @Override
    public void driverFeatures(long features) {
        this.features = features;
    }

    /** The driver's status, with NEEDS_RESET once a ring's error eventfd has fired. */
    @Override
    public int status() {
        if (!needsReset) {
            for (EventFd err : errors) needsReset |= err.await(0) > 0;
        }
        return needsReset ? status | DeviceStatus.NEEDS_RESET : status;
    }

    /** FEATURES_OK sends the features and shares the memory: the back-end can map rings from then on. */
    @Override
    public void setStatus(int status) {
        boolean featuresOk = (status & DeviceStatus.FEATURES_OK) != 0 && (this.status & DeviceStatus.FEATURES_OK) == 0;
        this.status = status;
        if (!featuresOk) return;
        try {
            frontend.negotiate(features);
            frontend.shareMemory(ram.fd(), ram.limit());
        } catch (IOException e) {
            this.status &= ~DeviceStatus.FEATURES_OK;
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public int queueCount() {
        return queues;
    }

    @Override
    public VringLayout placeQueue(int q) {
        long base = pages.allocate(VringLayout.contiguousBytes(queueSize, 4096));
        VringLayout ring = VringLayout.contiguous(queueSize, base, 4096);
        EventFd kick = EventFd.create(), call = EventFd.create(), err = EventFd.create();
        kicks.add(kick);
        calls.add(call);
        errors.add(err);
        try {
            frontend.startRing(q, ring, kick, call, err);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return ring;
    }

    @Override
    public byte[] config() {
        try {
            return frontend.config(configSize);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void notify(int q, VringLayout ring) {
        kicks.get(q).signal();
    }

    @Override
    public long awaitInterrupt(int q, long nanos) {
        return calls.get(q).await((int) Math.max(1, Math.min(nanos / 1_000_000, Integer.MAX_VALUE)));
    }

    @Override
    public DriverSideRings observer() {
        return rings;
    }

    /** Hangs up on the back-end: it resets the device; what it wrote stays written. */
    @Override
    public void close() {
        frontend.close();
        kicks.forEach(EventFd::close);
        calls.forEach(EventFd::close);
        errors.forEach(EventFd::close);
    }
}

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
 * and handed over with a kick and a call eventfd each. vhost-user has no status byte: the status
 * is the driver's own, and FEATURES_OK is when the features are sent (SET_FEATURES).
 */
final class VhostUserDriverTransport implements DriverTransport, AutoCloseable {
    /** The ring size QEMU gives vhost-user devices by default. */
    static final int QUEUE_SIZE = 128;

    private final VhostUserFrontend frontend;
    private final MemfdMemory ram;
    private final GuestPages pages;
    private final int queues;
    private final int configSize;
    private final List<EventFd> kicks = new ArrayList<>();
    private final List<EventFd> calls = new ArrayList<>();
    private long features;
    private int status;

    /**
     * @param queues     how many queues the driver sets up
     * @param configSize the config space bytes the driver reads
     */
    VhostUserDriverTransport(VhostUserFrontend frontend, MemfdMemory ram, GuestPages pages, int queues, int configSize) {
        this.frontend = frontend;
        this.ram = ram;
        this.pages = pages;
        this.queues = queues;
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

    @Override
    public int status() {
        return status;
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
        long base = pages.allocate(VringLayout.contiguousBytes(QUEUE_SIZE, 4096));
        VringLayout ring = VringLayout.contiguous(QUEUE_SIZE, base, 4096);
        EventFd kick = EventFd.create(), call = EventFd.create();
        kicks.add(kick);
        calls.add(call);
        try {
            frontend.startRing(q, ring, kick, call);
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
    public boolean awaitInterrupt(int q, long nanos) {
        return calls.get(q).await((int) Math.max(1, Math.min(nanos / 1_000_000, Integer.MAX_VALUE))) > 0;
    }

    /** Hangs up on the back-end: it resets the device; what it wrote stays written. */
    @Override
    public void close() {
        frontend.close();
        kicks.forEach(EventFd::close);
        calls.forEach(EventFd::close);
    }
}

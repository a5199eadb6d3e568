package guestlab.transport;

import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.lguest.DevicePage;
import guestlab.lguest.Hypervisor;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LguestVqConfig;
import guestlab.lguest.LhReq;
import guestlab.memory.GuestMemory;
import guestlab.posix.EventFd;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.QueueWorker;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One device on the lguest bus: its descriptor in the device page, the status the guest drives
 * through it, and, once the guest sets DRIVER_OK, its queues and their device threads. It is the
 * {@link DeviceContext} the device sees.
 */
final class BusDevice implements DeviceContext {
    /** 64 feature bits: VERSION_1 is bit 32. */
    static final int FEATURE_LEN = 8;

    private final String guest;
    private final String name;
    private final VirtioDevice device;
    private final GuestMemory mem;
    private final long ramLimit;
    private final Hypervisor hypervisor;
    private final EventBus events;
    private final long descAddr;
    private final int configLen;
    private final int[] irqs;
    private final QueueCounters[] counters;
    private final DeviceQueue[] queues;
    private final QueueWorker[] workers;
    private final Object statusLock = new Object(); // status and broken; taken by device threads too
    private int status;
    private long features;
    private volatile String broken;

    BusDevice(String guest, String name, VirtioDevice device, GuestMemory mem, long ramLimit, DevicePage page,
              Hypervisor hypervisor, EventBus events, int firstIrq) {
        this.guest = guest;
        this.name = name;
        this.device = device;
        this.mem = mem;
        this.ramLimit = ramLimit;
        this.hypervisor = hypervisor;
        this.events = events;
        int n = device.queueCount();
        this.irqs = new int[n];
        this.counters = new QueueCounters[n];
        this.queues = new DeviceQueue[n];
        this.workers = new QueueWorker[n];
        List<LguestVqConfig> vqs = new ArrayList<>(n);
        for (int q = 0; q < n; q++) {
            irqs[q] = firstIrq + q;
            counters[q] = new QueueCounters();
            vqs.add(new LguestVqConfig(device.maxQueueSize(q), irqs[q], 0));
        }
        this.configLen = device.config().length;
        this.descAddr = page.add(new LguestDeviceDesc(device.type(), 0, vqs,
                LguestDeviceDesc.featureBytes(device.features(), FEATURE_LEN), new byte[FEATURE_LEN], device.config()));
    }

    String name() {
        return name;
    }

    long descriptorAddress() {
        return descAddr;
    }

    int irqCount() {
        return irqs.length;
    }

    VirtioDevice device() {
        return device;
    }

    int status() {
        synchronized (statusLock) {
            return status;
        }
    }

    /** The guest notified this descriptor's address: act on what it changed (lg_set_status). */
    synchronized void guestNotified() {
        // Read only the fields the guest may write, at the offsets we laid out: the guest could
        // have scribbled over num_vq, feature_len or config_len too.
        int now = mem.readU8(descAddr + LguestDeviceDesc.STATUS_OFFSET);
        syncConfig(mem.read(configAddr(), configLen));
        int before;
        synchronized (statusLock) {
            // NEEDS_RESET (section 2.1) goes away only with a reset (section 2.4), whatever the driver writes.
            if (broken != null && now != 0 && (now & DeviceStatus.NEEDS_RESET) == 0) {
                now |= DeviceStatus.NEEDS_RESET;
                mem.writeU8(descAddr + LguestDeviceDesc.STATUS_OFFSET, now);
            }
            if (now == status) return;
            before = status;
            status = now;
        }
        publish(EventKind.STATUS, -1, DeviceStatus.describe(before) + " -> " + DeviceStatus.describe(now));
        if (now == 0) {
            reset();
            return;
        }
        if (broken != null) return; // nothing more happens on a broken device until the reset
        int cleared = before & ~now;
        if (cleared != 0) {
            fail("driver cleared status bits " + DeviceStatus.describe(cleared)
                    + " without a reset (section 2.1.1: only a reset clears them)");
            return;
        }
        boolean newly = (now & DeviceStatus.FEATURES_OK) != 0 && (before & DeviceStatus.FEATURES_OK) == 0;
        if (newly && !negotiate()) return;
        if ((now & DeviceStatus.DRIVER_OK) != 0 && (before & DeviceStatus.DRIVER_OK) == 0) {
            if ((now & DeviceStatus.FEATURES_OK) == 0 && !negotiate()) return;
            startQueues();
        }
    }

    /** Section 3.1.1: the device refuses features it did not offer by leaving FEATURES_OK clear. */
    private boolean negotiate() {
        long wanted = LguestDeviceDesc.featureBits(
                mem.read(descAddr + LguestDeviceDesc.guestFeaturesOffset(irqs.length, FEATURE_LEN), FEATURE_LEN));
        long offered = device.features();
        if ((wanted & ~offered) != 0) {
            synchronized (statusLock) {
                status &= ~DeviceStatus.FEATURES_OK;
                writeStatus();
            }
            publish(EventKind.DEVICE_ERROR, -1, String.format("guest acknowledged features 0x%x that were not offered",
                    wanted & ~offered));
            return false;
        }
        features = wanted;
        return true;
    }

    private void startQueues() {
        DeviceQueue[] ready = new DeviceQueue[queues.length];
        for (int q = 0; q < ready.length; q++) {
            long pfn = mem.readU32(descAddr + LguestDeviceDesc.vqOffset(q) + LguestVqConfig.PFN_OFFSET);
            int num = device.maxQueueSize(q); // the launcher owns num; the guest only writes pfn
            VringLayout ring = LguestRing.at(pfn, num);
            if (pfn == 0 || ring.used() + ring.usedBytes() > ramLimit) {
                fail(String.format("queue %d ring at pfn 0x%x is not inside guest RAM (limit 0x%x)", q, pfn, ramLimit));
                return;
            }
            try {
                ready[q] = new DeviceQueue(mem, ring, features, new QueueId(guest, name, q), events, counters[q]);
            } catch (RingFault f) {
                fail(f.getMessage());
                return;
            }
        }
        System.arraycopy(ready, 0, queues, 0, ready.length);
        for (int q = 0; q < queues.length; q++) {
            EventFd kick = EventFd.create();
            workers[q] = new QueueWorker(device, queues[q].id(), kick, true, events, counters[q],
                    (id, t) -> fail(t instanceof RingFault ? t.getMessage() : id + ": device failed: " + t));
            // LHREQ_EVENTFD: a notify of the ring's address wakes this queue's thread directly.
            hypervisor.request(new LhReq.EventFd(queues[q].layout().desc(), kick.fd()));
            workers[q].start();
        }
        try {
            device.start(this);
        } catch (RuntimeException e) {
            // The guest's hypercall must not fail because the host could not start the device.
            fail(name + ": device failed to start: " + e.getMessage());
        }
    }

    /** The driver changed config bytes in the page: hand them to the device, then show what it kept. */
    private void syncConfig(byte[] written) {
        byte[] current = device.config();
        if (Arrays.equals(written, current)) return;
        try {
            device.writeConfig(0, written);
        } catch (RuntimeException e) {
            fail(name + ": config write refused: " + e.getMessage());
        }
        writeConfig(device.config());
    }

    private long configAddr() {
        return descAddr + LguestDeviceDesc.configOffset(irqs.length, FEATURE_LEN);
    }

    private void writeConfig(byte[] config) {
        mem.write(configAddr(), Arrays.copyOf(config, configLen));
    }

    private void writeStatus() {
        mem.writeU8(descAddr + LguestDeviceDesc.STATUS_OFFSET, status);
    }

    /**
     * Marks the device NEEDS_RESET and stops feeding it; other devices go on. Section 2.1.2: a
     * device that sets NEEDS_RESET after DRIVER_OK sends a configuration change notification.
     */
    void fail(String reason) {
        boolean live;
        synchronized (statusLock) {
            if (broken != null) return;
            broken = reason;
            status |= DeviceStatus.NEEDS_RESET;
            writeStatus();
            live = (status & DeviceStatus.DRIVER_OK) != 0;
        }
        for (QueueWorker w : workers) {
            if (w != null) w.halt();
        }
        publish(EventKind.DEVICE_ERROR, -1, reason);
        if (live && irqs.length > 0) interrupt(0, -1, "config change: NEEDS_RESET");
    }

    /** Status 0: stop the queues and forget them (section 2.4). */
    synchronized void reset() {
        stopWorkers();
        device.reset();
        Arrays.fill(queues, null);
        features = 0;
        synchronized (statusLock) {
            broken = null;
        }
    }

    private void stopWorkers() {
        for (int q = 0; q < workers.length; q++) {
            if (workers[q] != null) {
                hypervisor.request(new LhReq.EventFd(queues[q].layout().desc(), -1));
                workers[q].close();
                workers[q] = null;
            }
        }
    }

    synchronized void close() {
        stopWorkers();
        device.close();
    }

    List<QueueState> queueStates() {
        List<QueueState> out = new ArrayList<>();
        for (DeviceQueue q : queues) {
            if (q != null) out.add(q.state());
        }
        return out;
    }

    // DeviceContext

    @Override
    public GuestMemory memory() {
        return mem;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public DeviceQueue queue(int index) {
        return index >= 0 && index < queues.length ? queues[index] : null;
    }

    @Override
    public void used(int index) {
        DeviceQueue q = queues[index];
        if (q != null && q.needsInterrupt()) interrupt(index, q.state().usedIdx(), "");
    }

    /** Counted and published before the guest can see it, so nobody who saw it reads a stale count. */
    private void interrupt(int index, long usedIdx, String why) {
        counters[index].interrupts.incrementAndGet();
        events.publish(new Event(System.nanoTime(), guest, name, index, EventKind.INTERRUPT, usedIdx, -1, -1, -1,
                "irq " + irqs[index] + (why.isEmpty() ? "" : ", " + why)));
        hypervisor.request(new LhReq.Irq(irqs[index]));
    }

    @Override
    public void wake(int index) {
        QueueWorker w = workers[index];
        if (w != null) w.wake();
    }

    @Override
    public void configChanged() {
        writeConfig(device.config());
        if (irqs.length > 0) interrupt(0, -1, "config change");
    }

    @Override
    public void warn(int index, String message) {
        publish(EventKind.HOST_WARNING, index, message);
    }

    private void publish(EventKind kind, int queue, String detail) {
        events.publish(Event.note(guest, name, queue, kind, detail));
    }
}

package guestlab.transport.lguest;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.lguest.DevicePage;
import guestlab.lguest.Hypervisor;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LguestVqConfig;
import guestlab.lguest.LhReq;
import guestlab.memory.GuestMemory;
import guestlab.posix.EventFd;
import guestlab.transport.DriverLink;
import guestlab.transport.ServedDevice;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.QueueState;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One device on the lguest bus: its descriptor in the device page, the status the guest drives
 * through it, and, once the guest sets DRIVER_OK, its queues on the transport core. Interrupts
 * are LHREQ_IRQ; a broken device shows NEEDS_RESET in its status byte.
 */
final class BusDevice implements DriverLink {
    /** 64 feature bits: VERSION_1 is bit 32. */
    static final int FEATURE_LEN = 8;

    private final String name;
    private final VirtioDevice device;
    private final GuestMemory mem;
    private final long ramLimit;
    private final Hypervisor hypervisor;
    private final EventBus events;
    private final long descAddr;
    private final int configLen;
    private final int[] irqs;
    private final String[] irqNames;
    /** Each queue's LHREQ_IRQ, made once: a device thread sends one per interrupt. */
    private final LhReq.Irq[] irqRequests;
    private final ServedDevice served;
    private final Object statusLock = new Object(); // the status byte; taken by device threads too
    private int status;
    /** Unplugged or stopped: the guest's notifies of its descriptor are no longer taken. Guarded by this. */
    private boolean closed;

    BusDevice(String guest, String name, VirtioDevice device, GuestMemory mem, long ramLimit, DevicePage page,
              Hypervisor hypervisor, EventBus events, int firstIrq) {
        this.name = name;
        this.device = device;
        this.mem = mem;
        this.ramLimit = ramLimit;
        this.hypervisor = hypervisor;
        this.events = events;
        int n = device.queueCount();
        this.irqs = new int[n];
        this.irqNames = new String[n];
        this.irqRequests = new LhReq.Irq[n];
        List<LguestVqConfig> vqs = new ArrayList<>(n);
        for (int q = 0; q < n; q++) {
            irqs[q] = firstIrq + q;
            irqNames[q] = "irq " + irqs[q];
            irqRequests[q] = new LhReq.Irq(irqs[q]);
            vqs.add(new LguestVqConfig(device.maxQueueSize(q), irqs[q], 0));
        }
        this.configLen = device.config().length;
        // Last of what can fail: a page too full to take the descriptor leaves nothing behind.
        this.descAddr = page.add(new LguestDeviceDesc(device.type(), 0, vqs,
                LguestDeviceDesc.featureBytes(device.features(), FEATURE_LEN), new byte[FEATURE_LEN], device.config()));
        this.served = new ServedDevice(guest, name, device, events, this);
        served.useMemory(mem);
    }

    String name() {
        return name;
    }

    long descriptorAddress() {
        return descAddr;
    }

    List<Integer> irqs() {
        return Arrays.stream(irqs).boxed().toList();
    }

    VirtioDevice device() {
        return device;
    }

    int status() {
        synchronized (statusLock) {
            return status;
        }
    }

    /**
     * The guest notified this descriptor's address: act on what it changed (lg_set_status).
     * Returns false, acting on nothing, once the device is closed (unplugged).
     */
    synchronized boolean guestNotified() {
        if (closed) return false;
        statusNotified();
        return true;
    }

    private void statusNotified() {
        // Read only the fields the guest may write, at the offsets we laid out: the guest could
        // have scribbled over num_vq, feature_len or config_len too.
        int now = mem.readU8(descAddr + LguestDeviceDesc.STATUS_OFFSET);
        syncConfig(mem.read(configAddr(), configLen));
        int before;
        synchronized (statusLock) {
            // NEEDS_RESET (section 2.1) goes away only with a reset (section 2.4), whatever the driver writes.
            if (served.brokenReason() != null && now != 0 && (now & DeviceStatus.NEEDS_RESET) == 0) {
                now |= DeviceStatus.NEEDS_RESET;
                mem.writeU8(descAddr + LguestDeviceDesc.STATUS_OFFSET, now);
            }
            if (now == status) return;
            before = status;
            status = now;
        }
        served.publish(EventKind.STATUS, -1, DeviceStatus.describe(before) + " -> " + DeviceStatus.describe(now));
        if (now == 0) {
            reset();
            return;
        }
        if (served.brokenReason() != null) return; // nothing more happens on a broken device until the reset
        int cleared = before & ~now;
        if (cleared != 0) {
            served.fail(-1, "driver cleared status bits " + DeviceStatus.describe(cleared)
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
            served.publish(EventKind.DEVICE_ERROR, -1, String.format("guest acknowledged features 0x%x that were not offered",
                    wanted & ~offered));
            return false;
        }
        served.useFeatures(wanted);
        return true;
    }

    private void startQueues() {
        DeviceQueue[] ready = new DeviceQueue[irqs.length];
        for (int q = 0; q < ready.length; q++) {
            long pfn = mem.readU32(descAddr + LguestDeviceDesc.vqOffset(q) + LguestVqConfig.PFN_OFFSET);
            int num = device.maxQueueSize(q); // the launcher owns num; the guest only writes pfn
            VringLayout ring = LguestRing.at(pfn, num);
            if (pfn == 0 || ring.used() + ring.usedBytes() > ramLimit) {
                served.fail(-1, String.format("queue %d ring at pfn 0x%x is not inside guest RAM (limit 0x%x)", q, pfn, ramLimit));
                return;
            }
            try {
                ready[q] = new DeviceQueue(mem, ring, served.features(), served.queueId(q), events, served.counters(q));
            } catch (RingFault f) {
                served.fail(q, f.getMessage());
                return;
            }
        }
        for (int q = 0; q < ready.length; q++) served.attach(q, ready[q]);
        for (int q = 0; q < ready.length; q++) {
            EventFd kick = EventFd.create();
            // LHREQ_EVENTFD: a notify of the ring's address wakes this queue's thread directly.
            hypervisor.request(new LhReq.EventFd(ready[q].layout().desc(), kick.fd()));
            served.run(q, kick, true);
        }
    }

    /** The driver changed config bytes in the page: hand them to the device, then show what it kept. */
    private void syncConfig(byte[] written) {
        byte[] current = device.config();
        if (Arrays.equals(written, current)) return;
        try {
            device.writeConfig(0, written);
        } catch (RuntimeException e) {
            served.fail(-1, name + ": config write refused: " + e.getMessage());
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

    /** Status 0: stop the queues and forget them (section 2.4). */
    synchronized void reset() {
        unregisterKicks();
        served.reset();
    }

    /** LHREQ_EVENTFD with fd -1: notifies of the rings' addresses no longer go to their threads. */
    private void unregisterKicks() {
        for (int q = 0; q < irqs.length; q++) {
            DeviceQueue dq = served.queue(q);
            if (served.isRunning(q) && dq != null) hypervisor.request(new LhReq.EventFd(dq.layout().desc(), -1));
        }
    }

    /** Stops the queues' threads and closes the device (a disk's image is flushed and closed). */
    synchronized void close() {
        closed = true;
        unregisterKicks();
        for (int q = 0; q < irqs.length; q++) served.detach(q);
        device.close();
    }

    List<QueueState> queueStates() {
        return served.queueStates();
    }

    // DriverLink: LHREQ_IRQ and the status byte

    @Override
    public boolean canInterrupt(int queue) {
        return true;
    }

    @Override
    public String interruptName(int queue) {
        return irqNames[queue];
    }

    @Override
    public void interrupt(int queue) {
        hypervisor.request(irqRequests[queue]);
    }

    /** The config bytes in the page are the device's again; the guest hears of it on queue 0's irq, as lguest did. */
    @Override
    public void configChanged() {
        writeConfig(device.config());
        if (irqs.length > 0) served.interrupt(0, -1, "config change");
    }

    /** Section 2.1.2: a device that sets NEEDS_RESET after DRIVER_OK sends a configuration change notification. */
    @Override
    public void broke(int queue, String reason) {
        boolean live;
        synchronized (statusLock) {
            status |= DeviceStatus.NEEDS_RESET;
            writeStatus();
            live = (status & DeviceStatus.DRIVER_OK) != 0;
        }
        if (live && irqs.length > 0) served.interrupt(0, -1, "config change: NEEDS_RESET");
    }
}

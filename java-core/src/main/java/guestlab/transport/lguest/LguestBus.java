package guestlab.transport.lguest;

import guestlab.events.EventBus;
import guestlab.lguest.DevicePage;
import guestlab.lguest.Hypervisor;
import guestlab.memory.GuestMemory;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The lguest bus from the launcher's side: one descriptor per device in the device page above
 * guest RAM, interrupts numbered from 1 as lguest's launcher gave them out, and the handling of
 * the guest's notifies that land in the device page (status and config changes). Queue kicks
 * never come here: they go straight to each queue's eventfd (LHREQ_EVENTFD).
 */
public final class LguestBus implements AutoCloseable {
    private final DevicePage page;
    private final Map<String, BusDevice> devices = new LinkedHashMap<>();

    /**
     * @param ramLimit guest RAM ends here (pfnlimit * 4096); rings must lie below it
     * @param devices  name -> device, in bus order
     */
    public LguestBus(String guest, GuestMemory mem, long ramLimit, DevicePage page, Hypervisor hypervisor,
                     EventBus events, Map<String, VirtioDevice> devices) {
        this.page = page;
        int irq = 1;
        for (Map.Entry<String, VirtioDevice> e : devices.entrySet()) {
            BusDevice d = new BusDevice(guest, e.getKey(), e.getValue(), mem, ramLimit, page, hypervisor, events, irq);
            irq += d.irqCount();
            this.devices.put(e.getKey(), d);
        }
    }

    /**
     * A guest notify that no eventfd took (lguest's read() of /dev/lguest returning an address).
     * Returns false when the address is not a device descriptor.
     */
    public boolean handleNotify(long address) {
        if (!page.contains(address)) return false;
        for (BusDevice d : devices.values()) {
            if (d.descriptorAddress() == address) {
                d.guestNotified();
                return true;
            }
        }
        return false;
    }

    public List<String> deviceNames() {
        return List.copyOf(devices.keySet());
    }

    public int status(String name) {
        return get(name).status();
    }

    /** The device object itself, for what only the host side can do (inject input, pull the link). */
    public VirtioDevice device(String name) {
        return get(name).device();
    }

    public List<QueueState> queues(String name) {
        return get(name).queueStates();
    }

    public List<QueueState> queues() {
        List<QueueState> out = new ArrayList<>();
        for (BusDevice d : devices.values()) out.addAll(d.queueStates());
        return out;
    }

    private BusDevice get(String name) {
        BusDevice d = devices.get(name);
        if (d == null) throw new IllegalArgumentException("no device " + name + "; devices: " + devices.keySet());
        return d;
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (BusDevice d : devices.values()) {
            try {
                d.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}

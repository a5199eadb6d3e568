package guestlab.transport.lguest;

import guestlab.events.EventBus;
import guestlab.lguest.DevicePage;
import guestlab.lguest.Hypervisor;
import guestlab.lguest.LhReq;
import guestlab.memory.GuestMemory;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The lguest bus from the launcher's side: one descriptor per device in the device page above
 * guest RAM, interrupts numbered from 1 as lguest's launcher gave them out, and the handling of
 * the guest's notifies that land in the device page (status and config changes). Queue kicks
 * never come here: they go straight to each queue's eventfd (LHREQ_EVENTFD). Devices can be
 * plugged while the guest runs (a descriptor appended, the next irqs) and unplugged (its
 * descriptor marked {@link guestlab.lguest.LguestDeviceDesc#TYPE_REMOVED}); irqs are not reused.
 */
public final class LguestBus implements AutoCloseable {
    private final String guest;
    private final GuestMemory mem;
    private final long ramLimit;
    private final DevicePage page;
    private final Hypervisor hypervisor;
    private final EventBus events;
    /**
     * name -> device in bus order, replaced whole on every change (guarded by this): notify
     * handling, on whichever thread the guest notifies from, reads it without a lock.
     */
    private volatile Map<String, BusDevice> devices = Map.of();
    private int nextIrq = 1; // guarded by this
    private boolean closed;  // guarded by this

    /**
     * @param ramLimit guest RAM ends here (pfnlimit * 4096); rings must lie below it
     * @param devices  name -> device, in bus order
     */
    public LguestBus(String guest, GuestMemory mem, long ramLimit, DevicePage page, Hypervisor hypervisor,
                     EventBus events, Map<String, VirtioDevice> devices) {
        this.guest = guest;
        this.mem = mem;
        this.ramLimit = ramLimit;
        this.page = page;
        this.hypervisor = hypervisor;
        this.events = events;
        for (Map.Entry<String, VirtioDevice> e : devices.entrySet()) attach(e.getKey(), e.getValue());
    }

    /**
     * Adds {@code device} to the running bus as {@code name}: its descriptor goes where the
     * page's terminator was, its queues get the next irqs. Returns the descriptor's address; the
     * bus owns the device from then on. If it cannot be added (the name is taken, the page is
     * full, the irqs ran out), nothing changes and the caller still owns the device.
     */
    public synchronized long plug(String name, VirtioDevice device) {
        if (closed) throw new IllegalStateException("the lguest bus of " + guest + " is closed");
        if (devices.containsKey(name)) throw new IllegalArgumentException(guest + " already has a device " + name);
        return attach(name, device).descriptorAddress();
    }

    private synchronized BusDevice attach(String name, VirtioDevice device) {
        int need = device.queueCount();
        if (nextIrq + need > LhReq.LGUEST_IRQS) {
            throw new IllegalStateException(guest + " has too few irqs left for " + name + ": its queues need " + need + ", "
                    + (LhReq.LGUEST_IRQS - nextIrq) + " are left (a guest has irqs 0 to " + (LhReq.LGUEST_IRQS - 1)
                    + "; those of unplugged devices are not given out again)");
        }
        BusDevice d = new BusDevice(guest, name, device, mem, ramLimit, page, hypervisor, events, nextIrq);
        nextIrq += need;
        Map<String, BusDevice> next = new LinkedHashMap<>(devices);
        next.put(name, d);
        devices = Collections.unmodifiableMap(next);
        return d;
    }

    /**
     * Removes device {@code name}: from now on the guest's notifies of its descriptor are refused
     * as of any address outside a device; its queues' threads stop, the device is closed (a
     * disk's image flushed and closed), and its descriptor is marked removed in the page.
     */
    public synchronized void unplug(String name) {
        if (closed) throw new IllegalStateException("the lguest bus of " + guest + " is closed");
        BusDevice d = get(name);
        Map<String, BusDevice> next = new LinkedHashMap<>(devices);
        next.remove(name);
        devices = Collections.unmodifiableMap(next);
        try {
            d.close();
        } finally {
            page.remove(d.descriptorAddress());
        }
    }

    /**
     * A guest notify that no eventfd took (lguest's read() of /dev/lguest returning an address).
     * Returns false when the address is not a device descriptor, or no longer one.
     */
    public boolean handleNotify(long address) {
        if (!page.contains(address)) return false;
        for (BusDevice d : devices.values()) {
            if (d.descriptorAddress() == address) return d.guestNotified();
        }
        return false;
    }

    public List<String> deviceNames() {
        return List.copyOf(devices.keySet());
    }

    /** The name of the device whose descriptor is at {@code address}, if one is there now. */
    public Optional<String> deviceAt(long address) {
        return devices.values().stream().filter(d -> d.descriptorAddress() == address).map(BusDevice::name).findFirst();
    }

    /** The address of device {@code name}'s descriptor in the device page. */
    public long descriptorAddress(String name) {
        return get(name).descriptorAddress();
    }

    /** The irqs of device {@code name}'s queues, in queue order. */
    public List<Integer> irqs(String name) {
        return get(name).irqs();
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
    public synchronized void close() {
        closed = true;
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

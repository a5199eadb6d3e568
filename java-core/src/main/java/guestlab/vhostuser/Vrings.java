package guestlab.vhostuser;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.memory.GuestMemory;
import guestlab.memory.GuestMemoryException;
import guestlab.memory.MappedRegions;
import guestlab.posix.EventFd;
import guestlab.transport.DriverLink;
import guestlab.transport.ServedDevice;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.QueueState;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * The vring lifecycle of one vhost-user device: what the front-end said about each ring, the
 * memory it shares, and when a ring runs on the transport core. A ring runs once it has a size,
 * addresses inside the shared memory, a kick fd and is enabled; it stops at GET_VRING_BASE, a
 * new kick fd or memory table, and at disconnect. Interrupts go to the call fd
 * (SET_VRING_CALL, lguest's LHREQ_IRQ), faults to the error fd (SET_VRING_ERR).
 * Called from the connection thread only, except the {@link DriverLink} side (device threads).
 */
final class Vrings implements DriverLink {
    private final String where;
    private final VirtioDevice device;
    private final EventBus events;
    private final Vring[] rings;
    private final ServedDevice served;
    private volatile MappedRegions memory;

    Vrings(String guest, String name, VirtioDevice device, EventBus events) {
        this.where = guest + "/" + name;
        this.device = device;
        this.events = events;
        this.rings = new Vring[device.queueCount()];
        for (int i = 0; i < rings.length; i++) rings[i] = new Vring();
        this.served = new ServedDevice(guest, name, device, events, this);
    }

    ServedDevice served() {
        return served;
    }

    int count() {
        return rings.length;
    }

    GuestMemory memory() {
        return memory;
    }

    List<QueueState> states() {
        return served.queueStates();
    }

    /** The ring the front-end names, which must exist. */
    Vring ring(int index) throws VhostUserMessage.ProtocolError {
        if (index < 0 || index >= rings.length) {
            throw new VhostUserMessage.ProtocolError("vring " + index + " does not exist (" + served.name() + " has "
                    + rings.length + ")");
        }
        return rings[index];
    }

    /** SET_VRING_NUM: a power of two up to what the device accepts. */
    void setNum(int index, int num) throws VhostUserMessage.ProtocolError {
        Vring r = ring(index);
        int max = device.maxQueueSize(index);
        if (num <= 0 || num > max || Integer.bitCount(num) != 1) {
            throw new VhostUserMessage.ProtocolError("SET_VRING_NUM " + num + ": not a power of 2 up to " + max);
        }
        r.num = num;
    }

    /** SET_VRING_ADDR: the front-end's virtual addresses of the ring's three parts. */
    void setAddresses(int index, long descVa, long usedVa, long availVa) throws VhostUserMessage.ProtocolError {
        Vring r = ring(index);
        r.descVa = descVa;
        r.usedVa = usedVa;
        r.availVa = availVa;
        r.addressed = true;
    }

    /** SET_VRING_BASE: where the ring resumes in the avail ring. */
    void setBase(int index, int base) throws VhostUserMessage.ProtocolError {
        ring(index).base = base & 0xffff;
    }

    /** GET_VRING_BASE: stops the ring and says where it stopped; the device resets with its last ring. */
    int stopAndGetBase(int index) throws VhostUserMessage.ProtocolError {
        Vring r = ring(index);
        stop(index);
        closeKick(r);
        if (served.idle()) served.stopAll();
        return r.base;
    }

    /** SET_VRING_ENABLE. */
    void enable(int index, boolean on) throws VhostUserMessage.ProtocolError {
        ring(index).enabled = on;
        if (on) tryStart(index);
        else stop(index);
    }

    /** SET_VRING_KICK: the doorbell the ring's device thread sleeps on (lguest's LHREQ_EVENTFD). */
    void setKick(int index, EventFd kick, boolean protocolFeatures) throws VhostUserMessage.ProtocolError {
        Vring r = ring(index);
        stop(index);
        closeKick(r);
        r.kick = kick;
        // Without protocol features a ring starts as soon as it has a kick fd.
        if (!protocolFeatures) r.enabled = true;
        tryStart(index);
    }

    /** SET_VRING_CALL: a device thread that still holds the old fd finds it closed and signals the new one. */
    void setCall(int index, EventFd call) throws VhostUserMessage.ProtocolError {
        Vring r = ring(index);
        EventFd old = r.call;
        r.call = call;
        if (old != null) old.close();
    }

    /** SET_VRING_ERR. */
    void setErr(int index, EventFd err) throws VhostUserMessage.ProtocolError {
        Vring r = ring(index);
        EventFd old = r.err;
        r.err = err;
        if (old != null) old.close();
    }

    /** SET_MEM_TABLE: map the front-end's regions; running rings are restarted on the new mapping. */
    void setMemTable(List<MappedRegions.Region> regions) throws VhostUserMessage.ProtocolError {
        List<Integer> restart = new ArrayList<>();
        for (int i = 0; i < rings.length; i++) {
            if (served.isRunning(i)) {
                stop(i);
                restart.add(i);
            }
        }
        closeMemory();
        try {
            memory = MappedRegions.map(regions, where + ": the front-end's memory is released (it disconnected "
                    + "or sent a new memory table)");
        } catch (RuntimeException e) {
            throw new VhostUserMessage.ProtocolError("SET_MEM_TABLE: cannot map the regions: " + e.getMessage());
        }
        served.useMemory(memory);
        for (int i : restart) tryStart(i);
    }

    private void tryStart(int index) {
        Vring r = rings[index];
        MappedRegions mem = memory;
        if (served.isRunning(index) || r.kick == null || !r.enabled || !r.addressed || r.num == 0 || mem == null
                || served.brokenReason() != null) {
            return;
        }
        long desc = mem.guestPhysOf(r.descVa), avail = mem.guestPhysOf(r.availVa), used = mem.guestPhysOf(r.usedVa);
        if (desc < 0 || avail < 0 || used < 0) {
            served.fail(index, String.format("vring %d addresses (desc 0x%x avail 0x%x used 0x%x) are outside the shared memory",
                    index, r.descVa, r.availVa, r.usedVa));
            return;
        }
        DeviceQueue q;
        try {
            q = new DeviceQueue(mem, new VringLayout(r.num, desc, avail, used), served.features(), served.queueId(index),
                    events, served.counters(index));
        } catch (RingFault | GuestMemoryException f) {
            served.fail(index, f.getMessage());
            return;
        }
        q.setBase(r.base);
        served.attach(index, q);
        served.run(index, r.kick, false);
    }

    private void stop(int index) {
        DeviceQueue q = served.detach(index);
        if (q != null) rings[index].base = q.lastAvail();
    }

    private static void closeKick(Vring r) {
        if (r.kick != null) {
            r.kick.close();
            r.kick = null;
        }
    }

    /** The front-end went away (or reset us): stop everything and forget what it told us. */
    void disconnect() {
        for (int i = 0; i < rings.length; i++) {
            stop(i);
            Vring r = rings[i];
            closeKick(r);
            EventFd call = r.call, err = r.err;
            r.call = null;
            r.err = null;
            if (call != null) call.close();
            if (err != null) err.close();
            r.enabled = false;
            r.addressed = false;
            r.num = 0;
            r.base = 0;
        }
        served.reset();
        closeMemory();
    }

    private void closeMemory() {
        MappedRegions m = memory;
        memory = null;
        served.useMemory(null);
        if (m != null && served.hasStuckThread()) {
            m.abandon();
        } else if (m != null) {
            try {
                m.close();
            } catch (RuntimeException e) {
                served.publish(EventKind.HOST_WARNING, -1, "unmapping guest memory: " + e.getMessage());
            }
        }
    }

    // DriverLink: the call and error eventfds

    @Override
    public boolean canInterrupt(int queue) {
        return rings[queue].call != null;
    }

    @Override
    public String interruptName(int queue) {
        return "call fd";
    }

    @Override
    public void interrupt(int queue) {
        Vring r = rings[queue];
        EventFd call;
        // The front-end may replace the call fd meanwhile (closing the old one): then the new one rings.
        do {
            call = r.call;
        } while (call != null && !call.trySignal());
    }

    @Override
    public void configChanged() {
        served.publish(EventKind.HOST_WARNING, -1, "config changed; vhost-user has no channel to tell the guest here");
    }

    /** The front-end's error notifier (SET_VRING_ERR) for the ring at fault, or for all of them. */
    @Override
    public void broke(int queue, String reason) {
        for (int i = 0; i < rings.length; i++) {
            EventFd err = rings[i].err;
            if (err != null && (queue < 0 || queue == i)) err.trySignal();
        }
    }
}

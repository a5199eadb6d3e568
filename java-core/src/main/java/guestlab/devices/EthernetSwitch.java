package guestlab.devices;

import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A learning Ethernet switch inside the JVM. Each port's source MAC is learned from the frames it
 * sends; a frame for a learned unicast address goes to that port only; broadcast, multicast and
 * unknown unicast frames are flooded to every other port. Delivery must not block: ports queue.
 *
 * <p>Faults can be set on its links ({@link #impair}, {@link #partition}): each frame a fault acts
 * on is reported as a {@link EventKind#FAULT} event to the guests of both ports, and frames held
 * back are delivered by a thread of the switch's own, never the sender's. With no fault and no
 * capture set, a frame costs what it always did.
 */
public final class EthernetSwitch {
    private final String name;
    private final Set<Port> ports = ConcurrentHashMap.newKeySet();
    private final Map<Long, Port> table = new ConcurrentHashMap<>();
    private final AtomicLong forwarded = new AtomicLong(), flooded = new AtomicLong(), dropped = new AtomicLong();
    private final AtomicInteger anonymous = new AtomicInteger();
    /** null while no fault is set: the fast path. */
    private volatile NetFaults faults;
    private volatile PcapCapture capture;
    private volatile DelayLine delayLine;

    public EthernetSwitch(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** A port of the switch, named by the guest and device it belongs to; {@link #close()} unplugs it. */
    public final class Port implements AutoCloseable {
        private final String guest, device;
        private final EventBus events;
        private final Consumer<byte[]> deliver;
        /** The last in-order deadline of a frame held back for this port (guarded by the delay line). */
        long lastDeadlineNanos = System.nanoTime();

        private Port(String guest, String device, EventBus events, Consumer<byte[]> deliver) {
            this.guest = guest;
            this.device = device;
            this.events = events;
            this.deliver = deliver;
        }

        public String guest() {
            return guest;
        }

        /** guest/device, e.g. "a/net0". */
        public String name() {
            return guest + "/" + device;
        }

        /** Sends a frame into the switch from this port. */
        public void send(byte[] frame) {
            EthernetSwitch.this.forward(this, frame);
        }

        @Override
        public void close() {
            ports.remove(this);
            table.values().removeIf(p -> p == this);
        }

        @Override
        public String toString() {
            return name();
        }
    }

    /**
     * Plugs in the port of {@code guest}'s device {@code device}; {@code deliver} gets the frames for
     * it (it must not block) and {@code events} the faults that act on its frames.
     */
    public Port join(String guest, String device, EventBus events, Consumer<byte[]> deliver) {
        Port p = new Port(guest, device, events, deliver);
        ports.add(p);
        return p;
    }

    /** Plugs in a port that belongs to no guest (a test's, a tool's): named "host/portN". */
    public Port join(Consumer<byte[]> deliver) {
        return join("host", "port" + anonymous.getAndIncrement(), new EventBus(64), deliver);
    }

    public int portCount() {
        return ports.size();
    }

    /** The names of the ports plugged in now, sorted. */
    public List<String> portNames() {
        return ports.stream().map(Port::name).sorted().toList();
    }

    public long forwarded() {
        return forwarded.get();
    }

    public long flooded() {
        return flooded.get();
    }

    public long dropped() {
        return dropped.get();
    }

    /** Adds {@code impairment} after those set already; every port it concerns hears of it. */
    public synchronized void impair(Impairment impairment) {
        List<NetFaults.Rule> rules = new ArrayList<>(current().rules);
        rules.add(new NetFaults.Rule(impairment));
        use(new NetFaults(rules, current().partition));
        announce(impairment.link(), "net fault set on " + name + ": " + impairment);
    }

    /** Removes the impairments set with exactly {@code link} (every impairment when null); returns how many. */
    public synchronized int clear(LinkSelector link) {
        List<NetFaults.Rule> keep = new ArrayList<>(), gone = new ArrayList<>();
        for (NetFaults.Rule r : current().rules) (link == null || r.spec.link().equals(link) ? gone : keep).add(r);
        use(new NetFaults(keep, current().partition));
        for (NetFaults.Rule r : gone) announce(r.spec.link(), "net fault cleared on " + name + ": " + r.spec);
        return gone.size();
    }

    /** The impairments set now, in the order they act. */
    public List<Impairment> impairments() {
        return current().rules.stream().map(r -> r.spec).toList();
    }

    /** Cuts frames between the groups of {@code p}, replacing any partition before it. */
    public synchronized void partition(Partition p) {
        use(new NetFaults(current().rules, p));
        announce(LinkSelector.ALL, "partition set on " + name + ": " + p);
    }

    /** Removes the partition; returns whether there was one. */
    public synchronized boolean heal() {
        Partition was = current().partition;
        if (was == null) return false;
        use(new NetFaults(current().rules, null));
        announce(LinkSelector.ALL, "partition healed on " + name + ": " + was);
        return true;
    }

    /** The partition set now, or null. */
    public Partition partitionNow() {
        return current().partition;
    }

    /**
     * Starts writing every frame the switch delivers to {@code file} (pcap); one capture at a time.
     * Frames the faults drop are not in it; a corrupted or duplicated frame is, as delivered.
     */
    public synchronized PcapCapture capture(Path file) {
        PcapCapture now = capture;
        if (now != null) throw new IllegalStateException("switch " + name + " is already capturing to " + now.file());
        PcapCapture[] self = new PcapCapture[1];
        self[0] = new PcapCapture(file, name, () -> stopCapture(self[0]));
        capture = self[0];
        return self[0];
    }

    private synchronized void stopCapture(PcapCapture c) {
        if (capture == c) capture = null;
    }

    private NetFaults current() {
        NetFaults f = faults;
        return f == null ? NetFaults.NONE : f;
    }

    private void use(NetFaults f) {
        if (!f.isEmpty() && delayLine == null) delayLine = new DelayLine(name, this::deliverNow);
        faults = f.isEmpty() ? null : f;
    }

    private void announce(LinkSelector link, String what) {
        Set<EventBus> told = ConcurrentHashMap.newKeySet();
        for (Port p : ports) {
            boolean concerned = LinkSelector.names(p, link.from()) || (link.bothWays() && LinkSelector.names(p, link.to()));
            if (concerned && told.add(p.events)) p.events.publish(Event.note(p.guest, p.device, -1, EventKind.FAULT, what));
        }
    }

    private void report(Port from, Port to, String what) {
        from.events.publish(Event.note(from.guest, from.device, -1, EventKind.FAULT, what));
        if (to.events != from.events) to.events.publish(Event.note(to.guest, to.device, -1, EventKind.FAULT, what));
    }

    private void forward(Port from, byte[] frame) {
        if (frame.length < 14 || !ports.contains(from)) {
            dropped.incrementAndGet();
            return;
        }
        long src = mac(frame, 6);
        if ((frame[6] & 1) == 0) table.put(src, from); // never learn a multicast source
        boolean group = (frame[0] & 1) != 0; // broadcast and multicast have the group bit set
        Port to = group ? null : table.get(mac(frame, 0));
        NetFaults f = faults;
        if (to != null) {
            if (to != from) {
                forwarded.incrementAndGet();
                if (f == null) hand(to, frame.clone());
                else deliverImpaired(f, from, to, frame);
            }
            return;
        }
        flooded.incrementAndGet();
        for (Port p : ports) {
            if (p == from) continue;
            if (f == null) hand(p, frame.clone());
            else deliverImpaired(f, from, p, frame);
        }
    }

    private void deliverImpaired(NetFaults f, Port from, Port to, byte[] frame) {
        long now = System.nanoTime();
        NetFaults.Fate fate = f.fate(from, to, frame, now, name, this::report);
        if (fate == null) return;
        DelayLine line = delayLine;
        for (int i = 0; i < fate.copies(); i++) {
            byte[] copy = fate.frame().clone();
            if (fate.delayNanos() == 0 && !fate.reordered() && !line.holds(to, now)) hand(to, copy);
            else line.schedule(to, copy, now + fate.delayNanos(), !fate.reordered());
        }
    }

    /** Hands a frame held back to its port, if the port is still plugged in. */
    private void deliverNow(Port to, byte[] frame) {
        if (ports.contains(to)) hand(to, frame);
    }

    /** Hands a frame to its port, capturing it first. */
    private void hand(Port to, byte[] frame) {
        PcapCapture c = capture;
        if (c != null) c.record(frame);
        to.deliver.accept(frame);
    }

    private static long mac(byte[] frame, int off) {
        long v = 0;
        for (int i = 0; i < 6; i++) v = (v << 8) | Byte.toUnsignedLong(frame[off + i]);
        return v;
    }
}

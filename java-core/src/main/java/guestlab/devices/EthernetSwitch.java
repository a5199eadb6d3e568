package guestlab.devices;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A learning Ethernet switch inside the JVM. Each port's source MAC is learned from the frames it
 * sends; a frame for a learned unicast address goes to that port only; broadcast, multicast and
 * unknown unicast frames are flooded to every other port. Delivery must not block: ports queue.
 */
public final class EthernetSwitch {
    private final String name;
    private final Set<Port> ports = ConcurrentHashMap.newKeySet();
    private final Map<Long, Port> table = new ConcurrentHashMap<>();
    private final AtomicLong forwarded = new AtomicLong(), flooded = new AtomicLong(), dropped = new AtomicLong();

    public EthernetSwitch(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** A port of the switch; {@link #close()} unplugs it. */
    public final class Port implements AutoCloseable {
        private final Consumer<byte[]> deliver;

        private Port(Consumer<byte[]> deliver) {
            this.deliver = deliver;
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
    }

    /** Plugs in a port; {@code deliver} gets the frames for it (it must not block). */
    public Port join(Consumer<byte[]> deliver) {
        Port p = new Port(deliver);
        ports.add(p);
        return p;
    }

    public int portCount() {
        return ports.size();
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

    private void forward(Port from, byte[] frame) {
        if (frame.length < 14 || !ports.contains(from)) {
            dropped.incrementAndGet();
            return;
        }
        long src = mac(frame, 6);
        if ((frame[6] & 1) == 0) table.put(src, from); // never learn a multicast source
        boolean group = (frame[0] & 1) != 0; // broadcast and multicast have the group bit set
        Port to = group ? null : table.get(mac(frame, 0));
        if (to != null) {
            if (to != from) {
                forwarded.incrementAndGet();
                to.deliver.accept(frame.clone());
            }
            return;
        }
        flooded.incrementAndGet();
        for (Port p : ports) {
            if (p != from) p.deliver.accept(frame.clone());
        }
    }

    private static long mac(byte[] frame, int off) {
        long v = 0;
        for (int i = 0; i < 6; i++) v = (v << 8) | Byte.toUnsignedLong(frame[off + i]);
        return v;
    }
}

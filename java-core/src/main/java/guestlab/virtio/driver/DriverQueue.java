package guestlab.virtio.driver;

import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.Features;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;

import java.util.List;

import static guestlab.virtio.VringLayout.DESC_ADDR;
import static guestlab.virtio.VringLayout.DESC_FLAGS;
import static guestlab.virtio.VringLayout.DESC_F_INDIRECT;
import static guestlab.virtio.VringLayout.DESC_F_NEXT;
import static guestlab.virtio.VringLayout.DESC_F_WRITE;
import static guestlab.virtio.VringLayout.DESC_LEN;
import static guestlab.virtio.VringLayout.DESC_NEXT;
import static guestlab.virtio.VringLayout.DESC_SIZE;

/**
 * The driver side of a split virtqueue (virtio 1.x section 2.7, driver requirements), for
 * guests simulated inside the JVM: it owns a ring in guest memory, offers buffers, decides
 * whether to kick, and collects used buffers. Not thread-safe: one guest CPU drives it, though
 * {@link #state} may be read from anywhere.
 *
 * <p>The device is not trusted: a used ring that breaks the device's rules (section 2.7.8) makes
 * {@link #pollUsed()} throw {@link UsedRingFault} and leaves the queue broken, as a device
 * breaks its queue on a bad avail ring; nothing past the bad entry is collected.
 */
public final class DriverQueue {
    /** A buffer the device has returned: the chain's head and the bytes it wrote. */
    public record Used(int head, int len) {}

    private final GuestMemory mem;
    private final VringLayout ring;
    private final boolean eventIdx;
    private final boolean indirect;
    private final int[] chainLength;   // descriptors each in-flight head holds in the table
    private final long[] writable;      // device-writable bytes each in-flight head offered
    private int freeHead;
    private int numFree;
    private int availIdx;
    private int kickedAt;               // avail idx when we last decided about a kick
    private int lastUsed;               // free-running u16: the next used entry to collect
    private RingFault.Reason brokenBy;  // written before broken, read after it
    private volatile String broken;

    public DriverQueue(GuestMemory mem, VringLayout ring, long features) {
        this.mem = mem;
        this.ring = ring;
        this.eventIdx = Features.has(features, Features.RING_EVENT_IDX);
        this.indirect = Features.has(features, Features.RING_INDIRECT_DESC);
        this.chainLength = new int[ring.size()];
        this.writable = new long[ring.size()];
        mem.clear(ring.desc(), ring.descBytes());
        mem.clear(ring.avail(), ring.availBytes());
        mem.clear(ring.used(), ring.usedBytes());
        for (int i = 0; i < ring.size() - 1; i++) {
            mem.writeU16(ring.descriptor(i) + DESC_NEXT, i + 1);
        }
        numFree = ring.size();
    }

    public VringLayout layout() {
        return ring;
    }

    public int freeDescriptors() {
        return numFree;
    }

    public int availIdx() {
        return availIdx;
    }

    /** The used index up to which the driver has collected (free-running u16). */
    public int lastUsed() {
        return lastUsed;
    }

    /** Chains offered and not yet collected back. */
    public int inFlight() {
        return (availIdx - lastUsed) & 0xffff;
    }

    /** used.idx as the device last wrote it, read from the ring. */
    public int deviceUsedIdx() {
        return mem.readU16(ring.usedIdx());
    }

    /** Which rule broke the queue, or null while it works. */
    public RingFault.Reason fault() {
        return broken == null ? null : brokenBy;
    }

    /** Why the queue broke, for people, or null. */
    public String brokenReason() {
        return broken;
    }

    /**
     * Marks the queue broken for a reason the driver learned outside the ring (the device set
     * NEEDS_RESET); only the first reason counts. Nothing more is collected until a reset.
     */
    public void fail(RingFault.Reason reason, String detail) {
        if (broken == null) {
            brokenBy = reason;
            broken = detail;
        }
    }

    /**
     * The queue as its driver sees it, read without a lock (a moment's view, possibly a step
     * behind the driver): see {@link QueueState.Side#DRIVER} for what the fields mean here.
     */
    public QueueState state(QueueId id, QueueCounters.Snapshot counters) {
        int avail = availIdx;
        int deviceUsed = readOr(ring.usedIdx());
        // The device's position shows only where it publishes avail_event (2.7.10).
        int lastSeen = eventIdx ? readOr(ring.availEvent()) : -1;
        return new QueueState(id, ring.size(), ring.desc(), ring.avail(), ring.used(), avail, lastSeen, deviceUsed,
                lastSeen < 0 ? -1 : (avail - lastSeen) & 0xffff, (avail - lastUsed) & 0xffff, fault(), counters,
                QueueState.Side.DRIVER);
    }

    /** A u16 of the ring, or -1 when guest memory is gone (the guest stopped). */
    private int readOr(long address) {
        try {
            return mem.readU16(address);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /**
     * Offers a chain: {@code out} buffers the device reads, then {@code in} buffers it writes.
     * Returns the head, or -1 when the table has too few free descriptors.
     */
    public int add(List<Buffer> out, List<Buffer> in) {
        int n = out.size() + in.size();
        if (n == 0) throw new IllegalArgumentException("a chain needs at least one buffer");
        if (n > numFree) return -1;
        int head = freeHead;
        int d = head;
        int last = head;
        for (int i = 0; i < n; i++) {
            Buffer b = i < out.size() ? out.get(i) : in.get(i - out.size());
            long a = ring.descriptor(d);
            mem.writeU64(a + DESC_ADDR, b.addr());
            mem.writeU32(a + DESC_LEN, b.len());
            mem.writeU16(a + DESC_FLAGS, (i < out.size() ? 0 : DESC_F_WRITE) | (i + 1 < n ? DESC_F_NEXT : 0));
            last = d;
            d = mem.readU16(a + DESC_NEXT);
        }
        freeHead = d;
        numFree -= n;
        chainLength[head] = n;
        writable[head] = length(in);
        mem.writeU16(ring.descriptor(last) + DESC_NEXT, 0);
        publish(head);
        return head;
    }

    /**
     * Offers a chain through one indirect descriptor whose table the caller placed at
     * {@code table} (one descriptor per buffer, section 2.7.5.3). Returns the head, or -1 if no
     * descriptor is free.
     */
    public int addIndirect(List<Buffer> out, List<Buffer> in, long table) {
        if (!indirect) throw new IllegalStateException("INDIRECT_DESC was not negotiated");
        int n = out.size() + in.size();
        if (n == 0) throw new IllegalArgumentException("a chain needs at least one buffer");
        if (numFree == 0) return -1;
        for (int i = 0; i < n; i++) {
            Buffer b = i < out.size() ? out.get(i) : in.get(i - out.size());
            long a = VringLayout.descriptorAt(table, i);
            mem.writeU64(a + DESC_ADDR, b.addr());
            mem.writeU32(a + DESC_LEN, b.len());
            mem.writeU16(a + DESC_FLAGS, (i < out.size() ? 0 : DESC_F_WRITE) | (i + 1 < n ? DESC_F_NEXT : 0));
            mem.writeU16(a + DESC_NEXT, i + 1 < n ? i + 1 : 0);
        }
        int head = freeHead;
        long a = ring.descriptor(head);
        freeHead = mem.readU16(a + DESC_NEXT);
        numFree--;
        chainLength[head] = 1;
        writable[head] = length(in);
        mem.writeU64(a + DESC_ADDR, table);
        mem.writeU32(a + DESC_LEN, (long) DESC_SIZE * n);
        mem.writeU16(a + DESC_FLAGS, DESC_F_INDIRECT);
        publish(head);
        return head;
    }

    /** Whether the device asked to be notified of what was added since the last call (section 2.7.10). */
    public boolean kickNeeded() {
        GuestMemory.fence();
        int old = kickedAt;
        kickedAt = availIdx;
        if (eventIdx) {
            int availEvent = mem.readU16(ring.availEvent());
            return ((availIdx - availEvent - 1) & 0xffff) < ((availIdx - old) & 0xffff);
        }
        return (mem.readU16(ring.usedFlags()) & VringLayout.USED_F_NO_NOTIFY) == 0;
    }

    /**
     * The next buffer the device has returned, or null; its descriptors become free again.
     *
     * @throws UsedRingFault if the used ring breaks the device's rules (section 2.7.8), now or earlier
     */
    public Used pollUsed() {
        if (broken != null) throw new UsedRingFault(RingFault.Reason.QUEUE_BROKEN, "the queue is broken: " + broken);
        int usedIdx = mem.readU16(ring.usedIdx());
        if (usedIdx == lastUsed) {
            if (!eventIdx) return null;
            mem.writeU16(ring.usedEvent(), lastUsed);
            // The device may have used a buffer before it could see used_event, and then not
            // interrupted: look once more after publishing it (section 2.7.10).
            GuestMemory.fence();
            usedIdx = mem.readU16(ring.usedIdx());
            if (usedIdx == lastUsed) return null;
        }
        int ahead = (usedIdx - lastUsed) & 0xffff;
        if (ahead > inFlight()) {
            throw broke(RingFault.Reason.USED_INDEX_TOO_FAR, "used.idx " + usedIdx + " is " + ahead + " past the driver's " + lastUsed
                    + ", but only " + inFlight() + " chains are in flight (section 2.7.8)");
        }
        GuestMemory.fence(); // read the element only after seeing idx (section 2.7.13.3)
        long elem = ring.usedElement(lastUsed);
        long id = mem.readU32(elem + VringLayout.USED_ELEM_ID);
        long len = mem.readU32(elem + VringLayout.USED_ELEM_LEN);
        if (id >= ring.size() || chainLength[(int) id] == 0) {
            throw broke(RingFault.Reason.USED_HEAD_NOT_IN_FLIGHT, "used element " + lastUsed + " names head " + id + ", which is "
                    + (id >= ring.size() ? "outside the queue of " + ring.size() : "not in flight") + " (section 2.7.8)");
        }
        int head = (int) id;
        if (len > writable[head]) {
            throw broke(RingFault.Reason.USED_LENGTH_TOO_LONG, "used element " + lastUsed + " says " + len + " bytes were written into head "
                    + head + ", which offered " + writable[head] + " device-writable bytes (section 2.7.8.2)");
        }
        lastUsed = (lastUsed + 1) & 0xffff;
        if (eventIdx) mem.writeU16(ring.usedEvent(), lastUsed);
        free(head);
        return new Used(head, (int) len);
    }

    private UsedRingFault broke(RingFault.Reason reason, String detail) {
        fail(reason, detail);
        return new UsedRingFault(reason, detail);
    }

    private static long length(List<Buffer> buffers) {
        long n = 0;
        for (Buffer b : buffers) n += b.len();
        return n;
    }

    private void publish(int head) {
        mem.writeU16(ring.availSlot(availIdx), head);
        GuestMemory.fence(); // ring entry before idx (section 2.7.13.2)
        availIdx = (availIdx + 1) & 0xffff;
        mem.writeU16(ring.availIdx(), availIdx);
    }

    private void free(int head) {
        int n = chainLength[head];
        chainLength[head] = 0;
        int last = head;
        for (int i = 1; i < n; i++) last = mem.readU16(ring.descriptor(last) + DESC_NEXT);
        mem.writeU16(ring.descriptor(last) + DESC_NEXT, freeHead);
        freeHead = head;
        numFree += n;
    }
}

package guestlab.virtio.driver;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.Features;
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
 * whether to kick, and collects used buffers. Not thread-safe: one guest CPU drives it.
 */
public final class DriverQueue {
    /** A buffer the device has returned: the chain's head and the bytes it wrote. */
    public record Used(int head, int len) {}

    private final GuestMemory mem;
    private final VringLayout ring;
    private final boolean eventIdx;
    private final boolean indirect;
    private final int[] chainLength;   // descriptors each in-flight head holds in the table
    private int freeHead;
    private int numFree;
    private int availIdx;
    private int kickedAt;               // avail idx when we last decided about a kick
    private int lastUsed;

    public DriverQueue(GuestMemory mem, VringLayout ring, long features) {
        this.mem = mem;
        this.ring = ring;
        this.eventIdx = Features.has(features, Features.RING_EVENT_IDX);
        this.indirect = Features.has(features, Features.RING_INDIRECT_DESC);
        this.chainLength = new int[ring.size()];
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

    /** The next buffer the device has returned, or null; its descriptors become free again. */
    public Used pollUsed() {
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
        GuestMemory.fence();
        long elem = ring.usedElement(lastUsed);
        int head = (int) mem.readU32(elem + VringLayout.USED_ELEM_ID);
        int len = (int) mem.readU32(elem + VringLayout.USED_ELEM_LEN);
        lastUsed = (lastUsed + 1) & 0xffff;
        if (eventIdx) mem.writeU16(ring.usedEvent(), lastUsed);
        free(head);
        return new Used(head, len);
    }

    private void publish(int head) {
        mem.writeU16(ring.availSlot(availIdx), head);
        GuestMemory.fence(); // ring entry before idx (section 2.7.13.2)
        availIdx = (availIdx + 1) & 0xffff;
        mem.writeU16(ring.availIdx(), availIdx);
    }

    private void free(int head) {
        int n = chainLength[head];
        if (n == 0) throw new IllegalStateException("device returned head " + head + ", which is not in flight");
        chainLength[head] = 0;
        int last = head;
        for (int i = 1; i < n; i++) last = mem.readU16(ring.descriptor(last) + DESC_NEXT);
        mem.writeU16(ring.descriptor(last) + DESC_NEXT, freeHead);
        freeHead = head;
        numFree += n;
    }
}

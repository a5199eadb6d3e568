package guestlab.fuzz;

import guestlab.memory.GuestMemory;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;

import java.util.BitSet;

import static guestlab.virtio.VringLayout.DESC_F_INDIRECT;
import static guestlab.virtio.VringLayout.DESC_F_NEXT;
import static guestlab.virtio.VringLayout.DESC_F_WRITE;

/**
 * An independent reading of virtio 1.x section 2.7.5 (descriptor chains), written from the spec
 * rather than from guestlab's DescriptorWalk, to judge the device's verdict on the chain it takes
 * next: whether it may take it at all, and if not, which rule it breaks ({@link #reason}). Problems are found in
 * walk order; arriving at a descriptor already visited is a loop, whatever that descriptor holds.
 */
public final class ReferenceWalk {
    /** What is wrong first, in walk order. */
    public enum Verdict {
        OK,
        /** avail.idx ran more than a queue's worth ahead (2.7.13.3: the driver may not). */
        AVAIL_AHEAD,
        HEAD_OUT_OF_RANGE,
        /** A descriptor visited twice. */
        LOOP,
        NEXT_OUT_OF_RANGE,
        BUFFER_OUTSIDE_MEMORY,
        READABLE_AFTER_WRITABLE,
        INDIRECT_NOT_NEGOTIATED,
        NESTED_INDIRECT,
        INDIRECT_WITH_NEXT,
        /** Length 0 or not a whole number of descriptors (2.7.5.3.1). */
        INDIRECT_LENGTH_NOT_MULTIPLE,
        /** A whole number of descriptors, but more than a queue can have (VringLayout.MAX_SIZE). */
        INDIRECT_TOO_LONG,
        INDIRECT_OUTSIDE_MEMORY
    }

    private ReferenceWalk() {}

    /**
     * The verdict on the chain a device whose next avail index is {@code lastAvail} would take
     * now, or null when the driver has offered nothing new.
     */
    public static Verdict next(GuestMemory mem, VringLayout ring, int lastAvail, boolean indirect) {
        int availIdx = mem.readU16(ring.availIdx());
        int ahead = (availIdx - lastAvail) & 0xffff;
        if (ahead == 0) return null;
        if (ahead > ring.size()) return Verdict.AVAIL_AHEAD;
        int head = mem.readU16(ring.availSlot(lastAvail));
        return chain(mem, ring, head, indirect);
    }

    public static Verdict chain(GuestMemory mem, VringLayout ring, int head, boolean indirect) {
        if (head >= ring.size()) return Verdict.HEAD_OUT_OF_RANGE;
        long table = ring.desc();
        int size = ring.size();
        BitSet visited = new BitSet(size);
        boolean inIndirect = false, writable = false;
        int i = head;
        while (true) {
            if (visited.get(i)) return Verdict.LOOP;
            visited.set(i);
            long d = VringLayout.descriptorAt(table, i);
            long addr = mem.readU64(d + VringLayout.DESC_ADDR);
            long len = mem.readU32(d + VringLayout.DESC_LEN);
            int flags = mem.readU16(d + VringLayout.DESC_FLAGS);
            int next = mem.readU16(d + VringLayout.DESC_NEXT);
            if ((flags & DESC_F_INDIRECT) != 0) {
                if (!indirect) return Verdict.INDIRECT_NOT_NEGOTIATED;
                if (inIndirect) return Verdict.NESTED_INDIRECT;
                if ((flags & DESC_F_NEXT) != 0) return Verdict.INDIRECT_WITH_NEXT;
                if (len == 0 || len % VringLayout.DESC_SIZE != 0) return Verdict.INDIRECT_LENGTH_NOT_MULTIPLE;
                if (len / VringLayout.DESC_SIZE > VringLayout.MAX_SIZE) return Verdict.INDIRECT_TOO_LONG;
                if (!mem.contains(addr, len)) return Verdict.INDIRECT_OUTSIDE_MEMORY;
                table = addr;
                size = (int) (len / VringLayout.DESC_SIZE);
                visited = new BitSet(size);
                inIndirect = true;
                i = 0;
                continue;
            }
            if (!mem.contains(addr, len)) return Verdict.BUFFER_OUTSIDE_MEMORY;
            if ((flags & DESC_F_WRITE) != 0) writable = true;
            else if (writable) return Verdict.READABLE_AFTER_WRITABLE;
            if ((flags & DESC_F_NEXT) == 0) return Verdict.OK;
            if (next >= size) return Verdict.NEXT_OUT_OF_RANGE;
            i = next;
        }
    }

    /** The rule a device must say was broken when it refuses a chain with verdict {@code v}; null for OK. */
    public static RingFault.Reason reason(Verdict v) {
        return switch (v) {
            case OK -> null;
            case AVAIL_AHEAD -> RingFault.Reason.AVAIL_INDEX_TOO_FAR;
            case HEAD_OUT_OF_RANGE -> RingFault.Reason.HEAD_OUT_OF_RANGE;
            case LOOP -> RingFault.Reason.CHAIN_LOOP;
            case NEXT_OUT_OF_RANGE -> RingFault.Reason.NEXT_OUT_OF_RANGE;
            case BUFFER_OUTSIDE_MEMORY -> RingFault.Reason.BUFFER_OUTSIDE_MEMORY;
            case READABLE_AFTER_WRITABLE -> RingFault.Reason.READABLE_AFTER_WRITABLE;
            case INDIRECT_NOT_NEGOTIATED -> RingFault.Reason.INDIRECT_NOT_NEGOTIATED;
            case NESTED_INDIRECT -> RingFault.Reason.INDIRECT_NESTED;
            case INDIRECT_WITH_NEXT -> RingFault.Reason.INDIRECT_WITH_NEXT;
            case INDIRECT_LENGTH_NOT_MULTIPLE, INDIRECT_TOO_LONG -> RingFault.Reason.INDIRECT_TABLE_SIZE;
            case INDIRECT_OUTSIDE_MEMORY -> RingFault.Reason.INDIRECT_TABLE_OUTSIDE_MEMORY;
        };
    }
}

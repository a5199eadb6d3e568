package guestlab.fuzz;

import guestlab.memory.GuestMemory;
import guestlab.virtio.VringLayout;

import java.util.BitSet;

import static guestlab.virtio.VringLayout.DESC_F_INDIRECT;
import static guestlab.virtio.VringLayout.DESC_F_NEXT;
import static guestlab.virtio.VringLayout.DESC_F_WRITE;

/**
 * An independent reading of virtio 1.x section 2.7.5 (descriptor chains), written from the spec
 * rather than from guestlab's DescriptorWalk, to judge the device's verdict on the chain it takes
 * next: whether it may take it at all, and if not, what is wrong with it. Problems are found in
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

    /**
     * Whether a device's fault message tells the truth about {@code v}: a loop is called a loop,
     * and "not a multiple of 16" is said only of a table length that is not one.
     */
    public static String contradiction(Verdict v, String message) {
        if (v == Verdict.LOOP && !message.contains("loop")) return "a descriptor loop reported as: " + message;
        if (message.contains("multiple of 16") && v != Verdict.INDIRECT_LENGTH_NOT_MULTIPLE) {
            return "reported as not a multiple of 16 (reference: " + v + "): " + message;
        }
        return null;
    }
}

package guestlab.fuzz;

import guestlab.memory.GuestMemory;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;

import java.util.BitSet;
import java.util.Set;

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
        /** A readable descriptor after a writable one, whose links also go round in a loop: both rules are broken. */
        READABLE_AFTER_WRITABLE_IN_A_LOOP,
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
            else if (writable) return cycles(mem, table, size, i) ? Verdict.READABLE_AFTER_WRITABLE_IN_A_LOOP : Verdict.READABLE_AFTER_WRITABLE;
            if ((flags & DESC_F_NEXT) == 0) return Verdict.OK;
            if (next >= size) return Verdict.NEXT_OUT_OF_RANGE;
            i = next;
        }
    }

    /** Whether following NEXT links from descriptor {@code from} of a table comes back to one already passed. */
    private static boolean cycles(GuestMemory mem, long table, int size, int from) {
        BitSet passed = new BitSet(size);
        for (int i = from; !passed.get(i); ) {
            passed.set(i);
            long d = VringLayout.descriptorAt(table, i);
            int next = mem.readU16(d + VringLayout.DESC_NEXT);
            if ((mem.readU16(d + VringLayout.DESC_FLAGS) & DESC_F_NEXT) == 0 || next >= size) return false;
            i = next;
        }
        return true;
    }

    /**
     * The rules a device may say were broken when it refuses a chain with verdict {@code v}: one,
     * or either of two when the chain breaks both; none for OK.
     */
    public static Set<RingFault.Reason> reasons(Verdict v) {
        return switch (v) {
            case OK -> Set.of();
            case AVAIL_AHEAD -> Set.of(RingFault.Reason.AVAIL_INDEX_TOO_FAR);
            case HEAD_OUT_OF_RANGE -> Set.of(RingFault.Reason.HEAD_OUT_OF_RANGE);
            case LOOP -> Set.of(RingFault.Reason.CHAIN_LOOP);
            case NEXT_OUT_OF_RANGE -> Set.of(RingFault.Reason.NEXT_OUT_OF_RANGE);
            case BUFFER_OUTSIDE_MEMORY -> Set.of(RingFault.Reason.BUFFER_OUTSIDE_MEMORY);
            case READABLE_AFTER_WRITABLE -> Set.of(RingFault.Reason.READABLE_AFTER_WRITABLE);
            case READABLE_AFTER_WRITABLE_IN_A_LOOP -> Set.of(RingFault.Reason.READABLE_AFTER_WRITABLE, RingFault.Reason.CHAIN_LOOP);
            case INDIRECT_NOT_NEGOTIATED -> Set.of(RingFault.Reason.INDIRECT_NOT_NEGOTIATED);
            case NESTED_INDIRECT -> Set.of(RingFault.Reason.INDIRECT_NESTED);
            case INDIRECT_WITH_NEXT -> Set.of(RingFault.Reason.INDIRECT_WITH_NEXT);
            case INDIRECT_LENGTH_NOT_MULTIPLE, INDIRECT_TOO_LONG -> Set.of(RingFault.Reason.INDIRECT_TABLE_SIZE);
            case INDIRECT_OUTSIDE_MEMORY -> Set.of(RingFault.Reason.INDIRECT_TABLE_OUTSIDE_MEMORY);
        };
    }

    /**
     * Whether a device's message misnames a bad indirect table length: one reason covers every
     * bad length, so only the words say "not a multiple of 16" rather than "too long".
     */
    public static boolean misnamesTableLength(Verdict v, String message) {
        return v == Verdict.INDIRECT_TOO_LONG && message.contains("not a multiple");
    }
}

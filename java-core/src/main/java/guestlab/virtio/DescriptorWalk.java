package guestlab.virtio;

import guestlab.memory.GuestMemory;

import static guestlab.virtio.VringLayout.DESC_F_INDIRECT;
import static guestlab.virtio.VringLayout.DESC_F_NEXT;
import static guestlab.virtio.VringLayout.DESC_F_WRITE;
import static guestlab.virtio.VringLayout.DESC_SIZE;

/**
 * Follows one descriptor chain through its descriptor table, validating every step (virtio 1.x
 * section 2.7.5): each buffer inside guest memory, no loops, device-readable buffers before
 * device-writable ones, indirect tables only where negotiated and never nested (2.7.5.3.1). The
 * device's queue and the ring inspector share it, so what the inspector calls malformed is
 * exactly what breaks a device.
 */
final class DescriptorWalk {
    private DescriptorWalk() {}

    /**
     * Whether following NEXT links from {@code start} comes back to a descriptor already passed:
     * more links than the table has entries. Only asked on an error path, to name a loop as a
     * loop when its second lap would break another rule first.
     */
    private static boolean loopsFrom(GuestMemory mem, long table, int tableSize, int start) {
        int index = start;
        for (int steps = 0; steps <= tableSize; steps++) {
            long d = VringLayout.descriptorAt(table, index);
            if (!mem.contains(d, VringLayout.DESC_SIZE)) return false;
            if ((mem.readU16(d + VringLayout.DESC_FLAGS) & DESC_F_NEXT) == 0) return false;
            index = mem.readU16(d + VringLayout.DESC_NEXT);
            if (index >= tableSize) return false;
        }
        return true;
    }

    /** Sees the chain's descriptors in order; an indirect descriptor comes before its table's entries. */
    @FunctionalInterface
    interface Visitor {
        void descriptor(int index, long addr, long len, int flags, int next, boolean inIndirectTable);
    }

    /** The chain breaks a rule: {@code reason} says which, the message adds the numbers. */
    static final class BadChain extends Exception {
        final RingFault.Reason reason;

        BadChain(RingFault.Reason reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }
    }

    static void walk(GuestMemory mem, VringLayout ring, int head, boolean indirectAllowed, Visitor visitor)
            throws BadChain {
        if (head < 0 || head >= ring.size()) throw new BadChain(RingFault.Reason.HEAD_OUT_OF_RANGE, "head " + head + " is outside the queue of " + ring.size());
        long table = ring.desc();
        int tableSize = ring.size();
        int index = head;
        int seen = 0;
        boolean inIndirect = false;
        boolean writableSeen = false;
        while (true) {
            if (++seen > tableSize) {
                throw new BadChain(RingFault.Reason.CHAIN_LOOP, "descriptor chain from head " + head + " is longer than its table of " + tableSize
                        + (inIndirect ? " (indirect)" : "") + ": a loop");
            }
            long d = VringLayout.descriptorAt(table, index);
            long addr = mem.readU64(d + VringLayout.DESC_ADDR);
            long len = mem.readU32(d + VringLayout.DESC_LEN);
            int flags = mem.readU16(d + VringLayout.DESC_FLAGS);
            int next = mem.readU16(d + VringLayout.DESC_NEXT);
            if ((flags & DESC_F_INDIRECT) != 0) {
                if (!indirectAllowed) throw new BadChain(RingFault.Reason.INDIRECT_NOT_NEGOTIATED, "indirect descriptor at " + index + " but INDIRECT_DESC was not negotiated");
                if (inIndirect) throw new BadChain(RingFault.Reason.INDIRECT_NESTED, "indirect descriptor inside an indirect table (section 2.7.5.3.1)");
                if ((flags & DESC_F_NEXT) != 0) throw new BadChain(RingFault.Reason.INDIRECT_WITH_NEXT, "descriptor " + index + " has both INDIRECT and NEXT");
                if (len == 0) throw new BadChain(RingFault.Reason.INDIRECT_TABLE_SIZE, "indirect descriptor " + index + " has an empty table");
                if (len / DESC_SIZE > VringLayout.MAX_SIZE) { // a table no longer than the largest queue
                    throw new BadChain(RingFault.Reason.INDIRECT_TABLE_SIZE, "indirect table length " + len + " is too long: more than " + VringLayout.MAX_SIZE
                            + " descriptors (section 2.7.5.3.1)");
                }
                if (len % DESC_SIZE != 0) {
                    throw new BadChain(RingFault.Reason.INDIRECT_TABLE_SIZE, "indirect table length " + len + " is not a multiple of " + DESC_SIZE);
                }
                if (!mem.contains(addr, len)) {
                    throw new BadChain(RingFault.Reason.INDIRECT_TABLE_OUTSIDE_MEMORY, String.format("indirect table 0x%x+%d is outside guest memory", addr, len));
                }
                visitor.descriptor(index, addr, len, flags, next, false);
                table = addr;
                tableSize = (int) (len / DESC_SIZE);
                index = 0;
                seen = 0;
                inIndirect = true;
                continue;
            }
            if (len > Integer.MAX_VALUE || !mem.contains(addr, len)) {
                throw new BadChain(RingFault.Reason.BUFFER_OUTSIDE_MEMORY, String.format("descriptor %d buffer 0x%x+%d is outside guest memory", index, addr, len));
            }
            if ((flags & DESC_F_WRITE) != 0) {
                writableSeen = true;
            } else if (writableSeen) {
                if (loopsFrom(mem, table, tableSize, index)) {
                    throw new BadChain(RingFault.Reason.CHAIN_LOOP, "descriptor chain from head " + head + " is a loop: its links from descriptor "
                            + index + (inIndirect ? " of the indirect table" : "") + " never end");
                }
                throw new BadChain(RingFault.Reason.READABLE_AFTER_WRITABLE, "descriptor " + index + " is device-readable after a device-writable one");
            }
            visitor.descriptor(index, addr, len, flags, next, inIndirect);
            if ((flags & DESC_F_NEXT) == 0) return;
            if (next >= tableSize) {
                throw new BadChain(RingFault.Reason.NEXT_OUT_OF_RANGE, "descriptor " + index + " links to " + next + ", outside its table of " + tableSize);
            }
            index = next;
        }
    }
}

package guestlab.virtio;

import guestlab.memory.GuestMemory;

import java.util.ArrayList;
import java.util.List;

/**
 * One descriptor chain as it sits in guest memory now, decoded for people: read with the same
 * rules the device applies (section 2.7.5), but a malformed chain is described in
 * {@code reason} and {@code problem} instead of breaking the queue. Reading takes no lock and never stops the
 * guest, so a chain the driver is rewriting may show a mix of old and new descriptors.
 *
 * @param head        the chain's first descriptor
 * @param descriptors in chain order; an indirect descriptor comes before its table's entries
 * @param reason      the rule the chain breaks, or null when the device would take it
 * @param problem     the same for people, with the numbers, or null
 */
public record ChainView(int head, List<Descriptor> descriptors, RingFault.Reason reason, String problem) {

    /**
     * One descriptor (section 2.7.5): {@code next} means something only with NEXT;
     * {@code inIndirectTable} says it came from an indirect table rather than the ring's own.
     */
    public record Descriptor(int index, long addr, long len, int flags, int next, boolean inIndirectTable) {
        public boolean writable() {
            return (flags & VringLayout.DESC_F_WRITE) != 0;
        }

        public boolean hasNext() {
            return (flags & VringLayout.DESC_F_NEXT) != 0;
        }

        public boolean indirect() {
            return (flags & VringLayout.DESC_F_INDIRECT) != 0;
        }
    }

    /** Decodes the chain starting at descriptor {@code head} of queue {@code q}. */
    public static ChainView read(GuestMemory mem, QueueState q, int head) {
        List<Descriptor> out = new ArrayList<>();
        RingFault.Reason reason = null;
        String problem = null;
        try {
            DescriptorWalk.walk(mem, q.layout(), head, true,
                    (index, addr, len, flags, next, inTable) -> out.add(new Descriptor(index, addr, len, flags, next, inTable)));
        } catch (DescriptorWalk.BadChain e) {
            reason = e.reason;
            problem = e.getMessage();
        } catch (RuntimeException e) { // the ring itself is no longer mapped (the guest stopped)
            reason = RingFault.Reason.RING_OUTSIDE_MEMORY;
            problem = "cannot read the ring: " + e.getMessage();
        }
        return new ChainView(head, List.copyOf(out), reason, problem);
    }

    /**
     * The head the driver placed at free-running avail index {@code availIndex} (the avail
     * ring's slot {@code availIndex mod size}, section 2.7.6).
     */
    public static int headAt(GuestMemory mem, QueueState q, int availIndex) {
        return mem.readU16(q.layout().availSlot(availIndex));
    }
}

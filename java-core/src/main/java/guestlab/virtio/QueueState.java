package guestlab.virtio;

import guestlab.events.QueueCounters;

/**
 * A point-in-time view of one virtqueue, read without stopping the device.
 *
 * @param availIdx  the driver's avail.idx (what it has offered)
 * @param lastAvail the device's next avail index to take ("last seen")
 * @param usedIdx   used.idx (what the device has returned)
 * @param pending   chains offered but not yet taken: availIdx - lastAvail (mod 2^16)
 * @param inFlight  chains taken but not yet returned
 * @param fault     the rule whose breaking broke the queue, or null while it works
 */
public record QueueState(QueueId id, int size, long descAddr, long availAddr, long usedAddr,
                         int availIdx, int lastAvail, int usedIdx, int pending, int inFlight,
                         RingFault.Reason fault, QueueCounters.Snapshot counters) {

    /** Whether the queue is broken: it takes nothing more until a reset. */
    public boolean broken() {
        return fault != null;
    }

    /** Where the queue's ring lies, for reading its fields (see {@link VringLayout}). */
    public VringLayout layout() {
        return new VringLayout(size, descAddr, availAddr, usedAddr);
    }

    @Override
    public String toString() {
        return String.format("%-20s size=%-4d avail.idx=%-5d last-seen=%-5d used.idx=%-5d pending=%-3d in-flight=%-3d"
                        + " kicks=%d irqs=%d reqs=%d%s",
                id, size, availIdx, lastAvail, usedIdx, pending, inFlight,
                counters.kicks(), counters.interrupts(), counters.requests(), broken() ? " BROKEN " + fault : "");
    }
}

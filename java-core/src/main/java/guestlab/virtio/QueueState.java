package guestlab.virtio;

import guestlab.events.QueueCounters;

/**
 * A point-in-time view of one virtqueue, read without stopping the device. Most queues are seen
 * from their device's side, served in this JVM; a queue whose device is served elsewhere (a
 * vhost-user back-end this JVM is the front-end of) is seen from its driver's side, and a few
 * fields then mean what a driver can know ({@link Side}).
 *
 * @param availIdx  the driver's avail.idx (what it has offered)
 * @param lastAvail the device's next avail index to take ("last seen"). From the driver's side:
 *                  the avail_event the device publishes with VIRTIO_F_EVENT_IDX (2.7.10), which
 *                  a device keeps at or behind its position; -1 without EVENT_IDX, where a
 *                  driver cannot know it
 * @param usedIdx   used.idx (what the device has returned); from the driver's side, as read
 *                  from the used ring; -1 if it cannot be read
 * @param pending   chains offered but not yet taken: availIdx - lastAvail (mod 2^16); -1 when
 *                  lastAvail is
 * @param inFlight  chains taken but not yet returned; from the driver's side, chains offered
 *                  and not yet collected back
 * @param fault     the rule whose breaking broke the queue, or null while it works
 * @param seenFrom  which side of the ring these numbers were read from
 */
public record QueueState(QueueId id, int size, long descAddr, long availAddr, long usedAddr,
                         int availIdx, int lastAvail, int usedIdx, int pending, int inFlight,
                         RingFault.Reason fault, QueueCounters.Snapshot counters, Side seenFrom) {

    /**
     * Where a queue's state was read. Counters and events differ with it too: from the driver's
     * side a request is counted when the driver offers the chain, a completion when it collects
     * it (latency: offer to collection), a kick when it notifies, an interrupt when it sees one.
     */
    public enum Side { DEVICE, DRIVER }

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
        return String.format("%-20s size=%-4d avail.idx=%-5d last-seen=%-5s used.idx=%-5d pending=%-3s in-flight=%-3d"
                        + " kicks=%d irqs=%d reqs=%d%s%s",
                id, size, availIdx, known(lastAvail), usedIdx, known(pending), inFlight,
                counters.kicks(), counters.interrupts(), counters.requests(),
                seenFrom == Side.DRIVER ? " (seen by the driver)" : "", broken() ? " BROKEN " + fault : "");
    }

    private static String known(int n) {
        return n < 0 ? "-" : Integer.toString(n);
    }
}

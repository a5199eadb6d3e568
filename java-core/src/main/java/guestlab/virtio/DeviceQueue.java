package guestlab.virtio;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemory;

/**
 * The device side of a split virtqueue (virtio 1.x section 2.7), over guest memory the guest
 * controls. Everything read from the ring is validated before use: a violation throws
 * {@link RingFault} and leaves the queue broken (every later call throws too). Only the queue's
 * device thread calls {@link #pop()}, {@link #push} and {@link #serveAll}; {@link #state()} may be
 * called from anywhere.
 *
 * <p>Serving a chain allocates nothing: each head has one {@link DescriptorChain} object, refilled
 * whenever the driver offers that head, and events are published by their fields.
 */
public final class DeviceQueue {
    private final GuestMemory mem;
    private final VringLayout ring;
    private final QueueId id;
    private final EventBus events;
    private final QueueCounters counters;
    private final boolean eventIdx;
    private final boolean indirect;

    /** The chain object of each head, made when the driver first offers it. */
    private final DescriptorChain[] chains;

    private volatile int lastAvail;     // free-running u16: next avail slot to take
    private volatile int usedIdx;       // free-running u16: used.idx as published to the driver
    private int nextUsed;               // free-running u16: next used slot to fill; usedIdx outside serveAll
    private volatile int inFlight;
    private int signalledUsed;          // used idx when we last decided about an interrupt
    private int interrupted;            // used idx when we last decided for one
    private boolean interruptHeldBack;  // the last decision was against one
    private RingFault.Reason brokenBy;  // written before broken, read after it
    private volatile String broken;

    public DeviceQueue(GuestMemory mem, VringLayout ring, long features, QueueId id, EventBus events,
                       QueueCounters counters) throws RingFault {
        this.mem = mem;
        this.ring = ring;
        this.id = id;
        this.events = events;
        this.counters = counters;
        this.eventIdx = Features.has(features, Features.RING_EVENT_IDX);
        this.indirect = Features.has(features, Features.RING_INDIRECT_DESC);
        long absentEvent = eventIdx ? 0 : VringLayout.EVENT_FIELD_SIZE; // used_event, avail_event (2.7.10)
        if (!mem.contains(ring.desc(), ring.descBytes()) || !mem.contains(ring.avail(), ring.availBytes() - absentEvent)
                || !mem.contains(ring.used(), ring.usedBytes() - absentEvent)) {
            throw fault(RingFault.Reason.RING_OUTSIDE_MEMORY, String.format("ring outside guest memory: desc=0x%x avail=0x%x used=0x%x size=%d",
                    ring.desc(), ring.avail(), ring.used(), ring.size()));
        }
        this.chains = new DescriptorChain[ring.size()];
        this.usedIdx = mem.readU16(ring.usedIdx());
        this.nextUsed = usedIdx;
        this.lastAvail = usedIdx;
        this.signalledUsed = usedIdx;
        this.interrupted = usedIdx;
    }

    public QueueId id() {
        return id;
    }

    public VringLayout layout() {
        return ring;
    }

    public QueueCounters counters() {
        return counters;
    }

    public boolean isBroken() {
        return broken != null;
    }

    /** Why the queue broke, for people, or null. */
    public String brokenReason() {
        return broken;
    }

    /** Which rule broke the queue, or null while it works. */
    public RingFault.Reason fault() {
        return broken == null ? null : brokenBy;
    }

    /** Restarts from a saved avail position (vhost-user SET_VRING_BASE), not from used.idx. */
    public void setBase(int availIndex) {
        lastAvail = availIndex & 0xffff;
    }

    /** The used index as the device last published it (free-running u16). */
    public int usedIdx() {
        return usedIdx;
    }

    public int lastAvail() {
        return lastAvail;
    }

    /**
     * Takes the next available chain, or returns null when the driver has offered nothing new.
     * When it returns null it has re-armed notifications (avail_event, section 2.7.10) and
     * re-checked, so a driver that adds a buffer afterwards will kick.
     */
    public DescriptorChain pop() throws RingFault {
        checkUsable();
        int avail = availIdx();
        if (avail == lastAvail) {
            if (eventIdx) {
                mem.writeU16(ring.availEvent(), lastAvail);
                GuestMemory.fence();
                avail = availIdx();
            }
            if (avail == lastAvail) return null;
        }
        GuestMemory.fence(); // read ring entries only after seeing idx (section 2.7.13.3)
        int head = mem.readU16(ring.availSlot(lastAvail));
        DescriptorChain chain = walk(head, lastAvail);
        lastAvail = (lastAvail + 1) & 0xffff;
        inFlight++;
        counters.requests.incrementAndGet();
        counters.bytesRead.addAndGet(chain.readableLength());
        events.publish(chain.takenNanos(), id.guest(), id.device(), id.index(), EventKind.REQUEST,
                chain.availIndex(), head, chain.readableLength(), -1, "");
        return chain;
    }

    /**
     * Spins for up to {@code nanos} until the driver offers a chain, without sleeping; returns
     * whether one is there for {@link #pop()}. avail_event is left as the last empty pop set it.
     */
    public boolean spinForAvailable(long nanos) throws RingFault {
        if (nanos <= 0) return false;
        long end = System.nanoTime() + nanos;
        do {
            checkUsable();
            if (availIdx() != lastAvail) return true;
            Thread.onSpinWait();
        } while (System.nanoTime() - end < 0);
        return false;
    }

    /** Serves a chain: does the device's work and returns how many bytes it wrote into the chain. */
    @FunctionalInterface
    public interface Server {
        int serve(DescriptorChain chain) throws RingFault;
    }

    /**
     * Pops and serves every available chain, returning each; returns how many it served. The used
     * elements are written as each chain is served and used.idx once for them all (sections 2.7.8,
     * 2.7.14: the driver takes whatever the index shows), so the driver sees a batch at once and
     * the caller decides about one interrupt for it ({@link #needsInterrupt()}). A chain the
     * server finds malformed breaks the queue as a malformed ring does; the chains served before
     * it are returned.
     */
    public int serveAll(Server server) throws RingFault {
        int n = 0;
        try {
            DescriptorChain chain;
            while ((chain = pop()) != null) {
                int written;
                try {
                    written = server.serve(chain);
                } catch (RingFault f) {
                    throw fault(f.reason(), f.getMessage());
                }
                checkWritten(chain, written);
                complete(chain, written);
                n++;
            }
        } finally {
            publishUsed();
        }
        return n;
    }

    /** Returns a chain to the driver with {@code written} bytes put into its writable buffers. */
    public void push(DescriptorChain chain, int written) throws RingFault {
        checkUsable();
        int head = chain.head();
        if (head < 0 || head >= chains.length || chains[head] != chain || !chain.inFlight()) {
            throw new IllegalArgumentException("the chain from head " + head + " is not one " + id + " has in flight");
        }
        checkWritten(chain, written);
        complete(chain, written);
        publishUsed();
    }

    private static void checkWritten(DescriptorChain chain, int written) {
        if (written < 0 || written > chain.writableLength()) {
            throw new IllegalArgumentException("written " + written + " exceeds the chain's writable length");
        }
    }

    /** Writes the chain's used element; the driver sees it at the next {@link #publishUsed()}. */
    private void complete(DescriptorChain chain, int written) {
        long elem = ring.usedElement(nextUsed);
        mem.writeU32(elem + VringLayout.USED_ELEM_ID, chain.head());
        mem.writeU32(elem + VringLayout.USED_ELEM_LEN, written);
        nextUsed = (nextUsed + 1) & 0xffff;
        chain.returned();
        inFlight--;
        counters.completions.incrementAndGet();
        counters.bytesWritten.addAndGet(written);
        long now = System.nanoTime();
        events.publish(now, id.guest(), id.device(), id.index(), EventKind.COMPLETION,
                nextUsed, chain.head(), written, now - chain.takenNanos(), "");
        // A ring's worth not yet shown: show it before the next element overwrites the oldest.
        if (((nextUsed - usedIdx) & 0xffff) == ring.size()) publishUsed();
    }

    /**
     * Publishes used.idx for the elements written since the last time. A {@link Server} calls it
     * to show the driver what its {@link #serveAll} batch has served so far, rather than at the
     * batch's end; the caller then decides about an interrupt. Device thread only.
     */
    public void publishUsed() {
        if (nextUsed == usedIdx) return;
        GuestMemory.fence(); // the elements before the index (section 2.7.8)
        usedIdx = nextUsed;
        mem.writeU16(ring.usedIdx(), usedIdx);
    }

    /**
     * Whether the driver wants an interrupt for what was pushed since the last call: used_event
     * with EVENT_IDX (section 2.7.10), otherwise the avail ring's NO_INTERRUPT flag. Device thread only.
     */
    public boolean needsInterrupt() {
        if (broken != null) return false;
        GuestMemory.fence();
        int old = signalledUsed;
        int now = usedIdx;
        signalledUsed = now;
        if (old == now) return false;
        boolean wanted = driverAsks(old, now);
        if (wanted) interrupted = now;
        interruptHeldBack = !wanted;
        return wanted;
    }

    /** Whether {@link #needsInterrupt()} held one back since the last interrupt; device thread only. */
    public boolean interruptHeldBack() {
        return interruptHeldBack;
    }

    /**
     * Asks again about the interrupt {@link #needsInterrupt()} last held back, as the driver's
     * fields read now; called once the queue has been idle a while, and clears what was held back.
     * A driver re-arms (writes used_event, or clears NO_INTERRUPT), then reads used.idx, and the
     * device publishes used.idx, then reads the driver's field (section 2.7.10): with a barrier on
     * each side one of them sees the other. Without the driver's barrier both can miss, and the
     * driver then waits for an interrupt the device decided against, for ever: QEMU's TCG leaves a
     * single vCPU's barriers out, and 1 fio run in 10 hung so on guestlab's and on
     * qemu-storage-daemon's disks alike. An interrupt the driver did not need is harmless.
     */
    public boolean lateInterruptWanted() {
        if (!interruptHeldBack || broken != null) return false;
        interruptHeldBack = false;
        GuestMemory.fence();
        int now = usedIdx;
        boolean wanted = driverAsks(interrupted, now);
        if (wanted) interrupted = now;
        return wanted;
    }

    /** Whether the driver's notification field asks for an interrupt for used.idx moving from {@code old} to {@code now}. */
    private boolean driverAsks(int old, int now) {
        if (eventIdx) {
            int usedEvent = mem.readU16(ring.usedEvent());
            // vring_need_event(): did new_idx step past event_idx since old?
            return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
        }
        return (mem.readU16(ring.availFlags()) & VringLayout.AVAIL_F_NO_INTERRUPT) == 0;
    }

    /** Marks the queue broken; later pops and pushes throw. Returns the fault to throw. */
    private RingFault fault(RingFault.Reason reason, String detail) {
        if (broken == null) {
            brokenBy = reason;
            broken = detail;
        }
        counters.errors.incrementAndGet();
        return new RingFault(reason, id + ": " + detail);
    }

    public QueueState state() {
        int avail = broken == null || mem.contains(ring.avail(), VringLayout.AVAIL_RING) ? safeAvailIdx() : -1; // flags and idx
        int last = lastAvail;
        return new QueueState(id, ring.size(), ring.desc(), ring.avail(), ring.used(), avail, last, usedIdx,
                avail < 0 ? 0 : (avail - last) & 0xffff, inFlight, fault(), counters.snapshot(), QueueState.Side.DEVICE);
    }

    private int safeAvailIdx() {
        try {
            return mem.readU16(ring.availIdx());
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private void checkUsable() throws RingFault {
        if (broken != null) throw new RingFault(RingFault.Reason.QUEUE_BROKEN, id + " is broken: " + broken);
    }

    /** Reads avail.idx and checks it has not run more than a ring's worth ahead of us. */
    private int availIdx() throws RingFault {
        int avail = mem.readU16(ring.availIdx());
        int ahead = (avail - lastAvail) & 0xffff;
        if (ahead > ring.size()) {
            throw fault(RingFault.Reason.AVAIL_INDEX_TOO_FAR, "avail.idx " + avail + " is " + ahead + " ahead of the device's " + lastAvail
                    + ", more than the queue size " + ring.size());
        }
        return avail;
    }

    /**
     * Follows a chain from {@code head}, validating every descriptor (section 2.7.5), into the
     * head's chain object.
     */
    private DescriptorChain walk(int head, int availIndex) throws RingFault {
        if (head >= ring.size()) {
            throw fault(RingFault.Reason.HEAD_OUT_OF_RANGE, "avail ring slot " + (availIndex % ring.size()) + " names head " + head
                    + ", outside the queue of " + ring.size());
        }
        DescriptorChain chain = chains[head];
        if (chain == null) {
            chain = chains[head] = new DescriptorChain();
        } else if (chain.inFlight()) {
            throw fault(RingFault.Reason.HEAD_IN_FLIGHT, "avail ring slot " + (availIndex % ring.size()) + " names head " + head
                    + ", whose chain the device has not returned yet (section 2.7.13: a driver offers free descriptors)");
        }
        chain.take(head, availIndex);
        try {
            DescriptorWalk.walk(mem, ring, head, indirect, chain.collect);
        } catch (DescriptorWalk.BadChain e) {
            throw fault(e.reason, e.getMessage());
        }
        chain.taken(System.nanoTime());
        return chain;
    }
}

package guestlab.engine.sim;

import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.driver.DriverQueue;

import java.util.ArrayList;
import java.util.List;

/**
 * The rings of a device served outside this JVM (a vhost-user back-end the guest is the
 * front-end of), as their driver sees them. No device side here counts or publishes anything,
 * but the rings lie in this guest's memory: this counts what the driver does and sees, publishes
 * it as the same events every device's rings give (REQUEST when a chain is offered, KICK,
 * INTERRUPT when the driver sees one, COMPLETION when it collects a used entry, with the time
 * since the offer), and reads each queue's state back from the ring.
 */
final class DriverSideRings implements RingObserver {
    private final String guest;
    private final String device;
    private final EventBus events;
    private volatile DriverQueue[] queues = new DriverQueue[0];
    private QueueCounters[] counters = new QueueCounters[0];
    private long[][] offeredNanos = new long[0][]; // per queue and head: when the driver offered it

    DriverSideRings(String guest, String device, EventBus events) {
        this.guest = guest;
        this.device = device;
        this.events = events;
    }

    @Override
    public void placed(DriverQueue[] placed) {
        counters = new QueueCounters[placed.length];
        offeredNanos = new long[placed.length][];
        for (int q = 0; q < placed.length; q++) {
            counters[q] = new QueueCounters();
            offeredNanos[q] = new long[placed[q].layout().size()];
        }
        queues = placed.clone(); // published last: states() reads counters only once it sees queues
    }

    @Override
    public void offered(int q, int head, long readable) {
        long now = System.nanoTime();
        offeredNanos[q][head] = now;
        counters[q].requests.incrementAndGet();
        counters[q].bytesRead.addAndGet(readable);
        int availIndex = (queues[q].availIdx() - 1) & 0xffff; // the slot the chain went into
        events.publish(new Event(now, guest, device, q, EventKind.REQUEST, availIndex, head, readable, -1, ""));
    }

    @Override
    public void kicked(int q) {
        long n = counters[q].kicks.incrementAndGet();
        events.publish(new Event(System.nanoTime(), guest, device, q, EventKind.KICK, n, -1, -1, -1, ""));
    }

    /**
     * A device interrupts once it has put used buffers in the ring (section 2.7.14), so an
     * interrupt that finds nothing new to collect was raised for an entry the driver already
     * took without waiting for it.
     */
    @Override
    public void interrupted(int q, long count) {
        counters[q].interrupts.addAndGet(count);
        int usedIdx = queues[q].deviceUsedIdx();
        events.publish(new Event(System.nanoTime(), guest, device, q, EventKind.INTERRUPT, usedIdx, -1, -1, -1,
                usedIdx == queues[q].lastUsed() ? "call fd, nothing new to collect" : "call fd"));
    }

    @Override
    public void collected(int q, DriverQueue.Used used) {
        long now = System.nanoTime();
        counters[q].completions.incrementAndGet();
        counters[q].bytesWritten.addAndGet(used.len());
        events.publish(new Event(now, guest, device, q, EventKind.COMPLETION, queues[q].lastUsed(), used.head(), used.len(),
                now - offeredNanos[q][used.head()], ""));
    }

    @Override
    public void broke(int q, String detail) {
        if (q >= 0) counters[q].errors.incrementAndGet();
        events.publish(Event.note(guest, device, q, EventKind.DEVICE_ERROR, detail));
    }

    /** Every placed queue's state, read from the ring and the driver, in index order. */
    List<QueueState> states() {
        DriverQueue[] qs = queues;
        List<QueueState> out = new ArrayList<>(qs.length);
        for (int q = 0; q < qs.length; q++) {
            out.add(qs[q].state(new QueueId(guest, device, q), counters[q].snapshot()));
        }
        return out;
    }
}

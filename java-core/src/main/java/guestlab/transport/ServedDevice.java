package guestlab.transport;

import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemory;
import guestlab.posix.EventFd;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;

import java.util.ArrayList;
import java.util.List;

/**
 * One device as any transport serves it: the transport core. It holds the device's queues and
 * their device threads, delivers interrupts through the transport's {@link DriverLink}, keeps the
 * counters and events, and applies the one failure rule: the first ring fault or device error
 * halts every queue of the device until a reset (section 2.1.2, NEEDS_RESET), and nothing else in
 * the process is touched. It is the {@link DeviceContext} the device sees.
 *
 * <p>The transport decides when queues exist and where they live (the lguest device page,
 * vhost-user messages); it calls {@link #attach}, {@link #run}, {@link #detach} and {@link #reset}
 * from one thread at a time. Device threads call the {@link DeviceContext} side.
 */
public final class ServedDevice implements DeviceContext {
    private final String guest;
    private final String name;
    private final VirtioDevice device;
    private final EventBus events;
    private final DriverLink link;
    private final QueueCounters[] counters;
    private final DeviceQueue[] queues;
    private final QueueWorker[] workers;
    private volatile GuestMemory memory;
    private volatile long features;
    private volatile String broken;
    private boolean started;
    /** A device thread did not stop when told: the memory it may still be using must stay mapped. */
    private volatile boolean stuck;

    /** What a queue's thread asks once idle with an interrupt held back. */
    private final QueueWorker.HeldBack heldBack = new QueueWorker.HeldBack() {
        @Override
        public boolean any(int index) {
            DeviceQueue q = queues[index];
            return q != null && q.interruptHeldBack();
        }

        @Override
        public void recheck(int index) {
            DeviceQueue q = queues[index];
            if (q != null && link.canInterrupt(index) && q.lateInterruptWanted()) {
                interrupt(index, q.usedIdx(), "late: the driver re-armed after the device looked");
            }
        }
    };

    public ServedDevice(String guest, String name, VirtioDevice device, EventBus events, DriverLink link) {
        this.guest = guest;
        this.name = name;
        this.device = device;
        this.events = events;
        this.link = link;
        int n = device.queueCount();
        this.counters = new QueueCounters[n];
        this.queues = new DeviceQueue[n];
        this.workers = new QueueWorker[n];
        for (int q = 0; q < n; q++) counters[q] = new QueueCounters();
    }

    public String name() {
        return name;
    }

    public VirtioDevice device() {
        return device;
    }

    public int queueCount() {
        return queues.length;
    }

    /** The running totals of queue {@code index}; they outlive the queue's restarts. */
    public QueueCounters counters(int index) {
        return counters[index];
    }

    public QueueId queueId(int index) {
        return new QueueId(guest, name, index);
    }

    /** The guest memory the device's rings and buffers live in from now on (null: none). */
    public void useMemory(GuestMemory memory) {
        this.memory = memory;
    }

    /** The features both sides agreed on, as the device will see them. */
    public void useFeatures(long features) {
        this.features = features;
    }

    /** Why the device stopped serving, or null. */
    public String brokenReason() {
        return broken;
    }

    /** Whether a device thread ever refused to stop: its memory must then never be unmapped. */
    public boolean hasStuckThread() {
        return stuck;
    }

    /** Queue {@code index} is set up: the device can see it from now on. */
    public void attach(int index, DeviceQueue queue) {
        queues[index] = queue;
    }

    /**
     * Starts queue {@code index}'s device thread on {@code kick}, and the device itself with its
     * first queue. The thread runs the device once at once, since the driver may have queued work
     * before it started.
     *
     * @param ownsKick whether the thread closes {@code kick} when it stops
     */
    public void run(int index, EventFd kick, boolean ownsKick) {
        QueueWorker w = new QueueWorker(device, queueId(index), kick, ownsKick, events, counters[index],
                (id, t) -> fail(id.index(), t instanceof RingFault ? t.getMessage() : id + ": device failed: " + t), heldBack);
        workers[index] = w;
        if (broken != null) w.halt();
        if (!started) {
            started = true;
            try {
                device.start(this);
            } catch (RuntimeException e) {
                // The driver's request must not fail because the host could not start the device.
                fail(-1, name + ": device failed to start: " + e.getMessage());
            }
        }
        w.start().wake();
    }

    public boolean isRunning(int index) {
        return workers[index] != null;
    }

    /**
     * Stops queue {@code index}'s thread and forgets the queue; returns the queue it had (its
     * avail position is where a restart resumes), or null. A thread that does not stop is reported
     * and left behind.
     */
    public DeviceQueue detach(int index) {
        QueueWorker w = workers[index];
        workers[index] = null;
        if (w != null) {
            try {
                w.close();
            } catch (IllegalStateException e) { // stuck, perhaps in a system call on guest memory
                stuck = true;
                publish(EventKind.HOST_WARNING, index, e.getMessage() + "; its guest memory stays mapped");
            }
        }
        DeviceQueue q = queues[index];
        queues[index] = null;
        return q;
    }

    /** Whether no queue has a running thread. */
    public boolean idle() {
        for (QueueWorker w : workers) if (w != null) return false;
        return true;
    }

    /** Stops every queue and resets the device; what was negotiated, and a fault, still stand. */
    public void stopAll() {
        for (int q = 0; q < queues.length; q++) detach(q);
        if (started) {
            device.reset();
            started = false;
        }
    }

    /** The driver reset the device (section 2.4), or went away: stop everything and forget it all. */
    public void reset() {
        stopAll();
        features = 0;
        broken = null;
    }

    /**
     * Breaks the device: every queue stops calling it until a reset, the fault is published and
     * the driver told through the transport. Only the first reason counts; later ones are ignored.
     *
     * @param queue the queue at fault, or -1
     */
    public void fail(int queue, String reason) {
        synchronized (this) {
            if (broken != null) return;
            broken = reason;
        }
        for (QueueWorker w : workers) {
            if (w != null) w.halt();
        }
        publish(EventKind.DEVICE_ERROR, queue, reason);
        link.broke(queue, reason);
    }

    /**
     * Counts, publishes and delivers an interrupt for {@code queue}; counted and published before
     * the driver can see it, so nobody who saw it reads a stale count.
     */
    public void interrupt(int queue, long usedIdx, String why) {
        counters[queue].interrupts.incrementAndGet();
        String what = link.interruptName(queue);
        events.publish(System.nanoTime(), guest, name, queue, EventKind.INTERRUPT, usedIdx, -1, -1, -1,
                why.isEmpty() ? what : what + ", " + why);
        link.interrupt(queue);
    }

    /** Every queue that is set up, in index order, read without stopping them. */
    public List<QueueState> queueStates() {
        List<QueueState> out = new ArrayList<>();
        for (DeviceQueue q : queues) {
            if (q != null) out.add(q.state());
        }
        return out;
    }

    public void publish(EventKind kind, int queue, String detail) {
        events.publish(Event.note(guest, name, queue, kind, detail));
    }

    // DeviceContext: what the device sees

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public DeviceQueue queue(int index) {
        return index >= 0 && index < queues.length ? queues[index] : null;
    }

    @Override
    public void used(int index) {
        DeviceQueue q = queues[index];
        if (q != null && link.canInterrupt(index) && q.needsInterrupt()) interrupt(index, q.usedIdx(), "");
    }

    @Override
    public void wake(int index) {
        QueueWorker w = workers[index];
        if (w != null) w.wake();
    }

    @Override
    public void configChanged() {
        link.configChanged();
    }

    @Override
    public void warn(int index, String message) {
        publish(EventKind.HOST_WARNING, index, message);
    }
}

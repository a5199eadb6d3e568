package guestlab.transport;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemoryFaultException;
import guestlab.posix.EventFd;
import guestlab.virtio.QueueId;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * The device thread of one virtqueue, as lguest's launcher had: it sleeps on the queue's kick
 * eventfd (LHREQ_EVENTFD's fd, or vhost-user's SET_VRING_KICK fd) and runs the device's
 * {@link VirtioDevice#handle} when the driver kicks or the host {@link #wake()}s it. When the
 * queue held an interrupt back at its last decision, the thread also wakes after
 * {@value #LATE_INTERRUPT_MILLIS} ms of quiet to ask again ({@link HeldBack}). A
 * {@link RingFault} or any other exception from the device goes to {@code onFault}; the thread
 * then keeps sleeping but no longer calls the device.
 */
final class QueueWorker implements AutoCloseable {
    /**
     * How long a queue stays idle, with an interrupt held back, before the driver's fields are read
     * again ({@link guestlab.virtio.DeviceQueue#lateInterruptWanted()}).
     */
    static final int LATE_INTERRUPT_MILLIS = 2;

    /** The interrupts a queue held back, asked about again once it is idle. */
    interface HeldBack {
        /** Whether queue {@code index} held an interrupt back at its last decision. */
        boolean any(int index);

        /** Sends it if the driver wants it after all. */
        void recheck(int index);
    }

    private final VirtioDevice device;
    private final QueueId id;
    private final EventFd kick;
    private final boolean ownsKick;
    private final EventBus events;
    private final QueueCounters counters;
    private final BiConsumer<QueueId, Throwable> onFault;
    private final HeldBack heldBack;
    private final AtomicLong hostWakes = new AtomicLong();
    private final Thread thread;
    private volatile boolean stopping;
    private volatile boolean failed;

    /**
     * @param kick     the doorbell; closed with the worker when {@code ownsKick}
     * @param onFault  told once when the device fails on this queue
     * @param heldBack asked again after {@value #LATE_INTERRUPT_MILLIS} ms idle
     */
    QueueWorker(VirtioDevice device, QueueId id, EventFd kick, boolean ownsKick, EventBus events,
                       QueueCounters counters, BiConsumer<QueueId, Throwable> onFault, HeldBack heldBack) {
        this.device = device;
        this.id = id;
        this.kick = kick;
        this.ownsKick = ownsKick;
        this.events = events;
        this.counters = counters;
        this.onFault = onFault;
        this.heldBack = heldBack;
        this.thread = Thread.ofPlatform().daemon().name("guestlab-" + id.guest() + "-" + id.device() + "-q" + id.index())
                .unstarted(this::run);
    }

    QueueWorker start() {
        thread.start();
        return this;
    }

    /** Host-side work is waiting: run the device soon. Not counted as a kick; ignored once closing. */
    void wake() {
        synchronized (this) {
            if (stopping) return;
            hostWakes.incrementAndGet();
            kick.signal();
        }
    }

    /** Stops calling the device (its other queue failed); the thread lives on until {@link #close()}. */
    void halt() {
        failed = true;
    }

    private void run() {
        while (true) {
            long n = !failed && heldBack.any(id.index()) ? kick.await(LATE_INTERRUPT_MILLIS) : kick.await();
            if (stopping) return;
            if (n == 0) { // idle that long with an interrupt held back
                step(true);
                continue;
            }
            long kicks = Math.max(0, n - hostWakes.getAndSet(0));
            if (kicks > 0) {
                counters.kicks.addAndGet(kicks);
                events.publish(System.nanoTime(), id.guest(), id.device(), id.index(), EventKind.KICK,
                        counters.kicks.get(), -1, -1, -1, "");
            }
            if (failed) continue;
            step(false);
        }
    }

    /**
     * Runs the device on the queue, or asks again about a held-back interrupt ({@code late}); both
     * touch guest memory. A failure stops this queue's device, nothing else.
     */
    private void step(boolean late) {
        try {
            if (late) heldBack.recheck(id.index());
            else device.handle(id.index());
        } catch (InternalError e) {
            // The JVM's word for SIGBUS on a mapping (it may surface after the access that
            // faulted, so here rather than only in GuestMemory): this device breaks, nothing else.
            failed = true;
            onFault.accept(id, GuestMemoryFaultException.of(e));
        } catch (Throwable t) {
            failed = true;
            onFault.accept(id, t);
        }
    }

    /** Stops the thread and waits for it; the device is not called again. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (stopping) return;
            stopping = true;
            kick.signal();
        }
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            throw new IllegalStateException("device thread " + thread.getName() + " did not stop");
        }
        if (ownsKick) kick.close();
    }
}

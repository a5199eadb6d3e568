package guestlab.engine.sim;

import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.lguest.Hypervisor;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LhReq;
import guestlab.memory.GuestMemory;
import guestlab.posix.EventFd;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongPredicate;

/**
 * The hypervisor under a simulated guest, speaking lguest's LHREQ contract. The guest's
 * LHCALL_NOTIFY either signals an eventfd registered with LHREQ_EVENTFD (without entering the
 * launcher, as lguest's in-kernel path did) or exits to the launcher, which handles it before the
 * hypercall returns (as lguest's read() of /dev/lguest did). LHREQ_IRQ raises an interrupt the
 * simulated CPU waits on.
 */
public final class SimHypervisor implements Hypervisor {
    private final GuestMemory mem;
    private final EventBus events;
    private final String guest;
    private final Map<Long, Integer> eventfds = new ConcurrentHashMap<>();
    /**
     * Notifies signal under the read lock, LHREQ_EVENTFD changes take the write lock: once a
     * removal returns, no notify still holds the old fd number, so the launcher may close it
     * (lguest's kernel held its own reference to the eventfd instead).
     */
    private final ReadWriteLock eventfdLock = new ReentrantReadWriteLock();
    private final InterruptController interrupts = new InterruptController();
    private volatile LguestInit init;
    private volatile LongPredicate launcher = a -> false;
    private boolean paused; // guarded by this

    /** How long a hypercall of a paused guest waits for resume before it gives up. */
    static final Duration PAUSED_WAIT = Duration.ofSeconds(10);

    /** What LHREQ_INITIALIZE said. */
    public record LguestInit(long base, long pfnLimit, long start) {}

    public SimHypervisor(String guest, GuestMemory mem, EventBus events) {
        this.guest = guest;
        this.mem = mem;
        this.events = events;
    }

    /** The launcher's handler of notifies no eventfd takes; returns whether it knew the address. */
    public void onExit(LongPredicate handler) {
        this.launcher = handler;
    }

    @Override
    public void request(LhReq request) {
        switch (request) {
            case LhReq.Initialize i -> initialize(i);
            case LhReq.Irq i -> interrupts.raise(i.irq());
            case LhReq.EventFd e -> {
                eventfdLock.writeLock().lock();
                try {
                    if (e.fd() < 0) eventfds.remove(e.address());
                    else eventfds.put(e.address(), e.fd());
                } finally {
                    eventfdLock.writeLock().unlock();
                }
            }
        }
    }

    private synchronized void initialize(LhReq.Initialize i) {
        if (init != null) throw new IllegalStateException("LHREQ_INITIALIZE was already done for " + guest);
        // The device page lives just above pfnlimit, so memory must reach one page past it.
        if (i.pfnLimit() <= 0 || !mem.contains(0, (i.pfnLimit() + 1) * LguestRing.PAGE_SIZE)) {
            throw new IllegalArgumentException("LHREQ_INITIALIZE pfnlimit " + i.pfnLimit()
                    + " leaves no room for the device page in " + mem.limit() + " bytes");
        }
        init = new LguestInit(i.base(), i.pfnLimit(), i.start());
    }

    public LguestInit init() {
        if (init == null) throw new IllegalStateException("the guest has not been initialized (LHREQ_INITIALIZE)");
        return init;
    }

    /**
     * Freezes the simulated CPU: its next hypercall waits for {@link #resume()}, as a paused
     * vCPU would. Devices go on serving what they already hold, as under a paused QEMU.
     */
    public synchronized void pause() {
        paused = true;
    }

    public synchronized void resume() {
        paused = false;
        notifyAll();
    }

    /** Waits while the guest is paused, at most {@link #PAUSED_WAIT}, so a REPL never hangs on it. */
    private synchronized void awaitRunning() {
        long deadline = System.nanoTime() + PAUSED_WAIT.toNanos();
        try {
            while (paused) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new SimTimeoutException("guest " + guest + " is paused: its CPU waited " + PAUSED_WAIT.toSeconds()
                            + " s at a hypercall; resume it");
                }
                wait(Math.max(1, left / 1_000_000));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SimTimeoutException("guest " + guest + ": interrupted while paused");
        }
    }

    /** The guest's LHCALL_NOTIFY hypercall. */
    public void notify(long address) {
        awaitRunning();
        eventfdLock.readLock().lock();
        try {
            Integer fd = eventfds.get(address);
            if (fd != null) {
                EventFd.signal(fd);
                return;
            }
        } finally {
            eventfdLock.readLock().unlock();
        }
        if (!launcher.test(address)) {
            events.publish(Event.note(guest, "", -1, EventKind.HOST_WARNING,
                    String.format("guest notified 0x%x, which is neither a queue nor a device", address)));
        }
    }

    public InterruptController interrupts() {
        return interrupts;
    }
}

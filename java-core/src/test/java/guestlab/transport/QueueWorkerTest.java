package guestlab.transport;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.posix.EventFd;
import guestlab.testing.Await;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceType;
import guestlab.virtio.QueueId;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** The per-queue device thread: kicks, host wake-ups, faults and shutdown. */
class QueueWorkerTest {
    private static final AtomicInteger SEQ = new AtomicInteger();

    /** Records every handle() call and the thread it ran on; throws when told to. */
    static final class TinyDevice implements VirtioDevice {
        final LinkedBlockingQueue<String> threads = new LinkedBlockingQueue<>();
        final AtomicInteger calls = new AtomicInteger();
        final List<Integer> indices = new CopyOnWriteArrayList<>();
        volatile Throwable toThrow;

        @Override public int type() { return DeviceType.RNG; }
        @Override public long features() { return 0; }
        @Override public int queueCount() { return 1; }
        @Override public int maxQueueSize(int index) { return 8; }
        @Override public byte[] config() { return new byte[0]; }
        @Override public void start(DeviceContext context) {}
        @Override public void reset() {}

        @Override
        public void handle(int index) throws RingFault {
            Throwable t = toThrow;
            calls.incrementAndGet();
            indices.add(index);
            threads.add(Thread.currentThread().getName());
            if (t instanceof RingFault rf) throw rf;
            if (t instanceof RuntimeException re) throw re;
        }
    }

    /** Held-back interrupts as the test sets them; records each recheck and clears, as DeviceQueue does. */
    static final class HeldBackProbe implements QueueWorker.HeldBack {
        volatile boolean held;
        volatile RuntimeException toThrow;
        final LinkedBlockingQueue<String> rechecks = new LinkedBlockingQueue<>();

        @Override
        public boolean any(int index) {
            return held;
        }

        @Override
        public void recheck(int index) {
            held = false;
            rechecks.add(Thread.currentThread().getName());
            if (toThrow != null) throw toThrow;
        }
    }

    private final List<QueueWorker> workers = new ArrayList<>();

    @AfterEach
    void closeWorkers() {
        workers.forEach(QueueWorker::close); // idempotent: tests may have closed some already
    }

    private record Rig(TinyDevice dev, QueueId id, EventFd kick, QueueCounters counters, EventBus events,
                       List<Throwable> faults, List<QueueId> faultIds, HeldBackProbe heldBack, QueueWorker worker) {}

    private Rig rig(int index) {
        TinyDevice dev = new TinyDevice();
        QueueId id = new QueueId("qwt" + SEQ.incrementAndGet(), "tiny", index);
        EventFd kick = EventFd.create();
        QueueCounters counters = new QueueCounters();
        EventBus events = new EventBus(64);
        List<Throwable> faults = new CopyOnWriteArrayList<>();
        List<QueueId> ids = new CopyOnWriteArrayList<>();
        HeldBackProbe heldBack = new HeldBackProbe();
        QueueWorker w = new QueueWorker(dev, id, kick, true, events, counters, (q, t) -> {
            ids.add(q);
            faults.add(t);
        }, heldBack);
        workers.add(w);
        w.start();
        return new Rig(dev, id, kick, counters, events, faults, ids, heldBack, w);
    }

    /** Waits until the worker has counted {@code n} guest kicks in all. */
    private static void kicksCounted(Rig r, long n) {
        Await.until(n + " kicks counted on " + r.id(), r.counters().kicks::get, k -> k >= n);
    }

    /**
     * Returns once the worker has finished with everything signalled before this call, given the
     * {@code kicksSoFar} guest kicks the test signalled: two marker kicks, each waited for. The
     * first may share a wake-up with whatever was pending; the second is a wake-up of its own,
     * which the single worker thread reaches only after finishing the one before (its call to
     * the device, or its decision not to call it).
     */
    private static void afterEverythingSignalled(Rig r, long kicksSoFar) {
        r.kick().signal();
        kicksCounted(r, kicksSoFar + 1);
        r.kick().signal();
        kicksCounted(r, kicksSoFar + 2);
    }

    private static String threadName(QueueId id) {
        return "guestlab-" + id.guest() + "-" + id.device() + "-q" + id.index();
    }

    private static List<Thread> threadsNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).toList();
    }

    @Test
    void kickRunsHandleOnTheWorkerThread() throws Exception {
        Rig r = rig(2);
        r.kick().signal();
        String name = r.dev().threads.poll(5, TimeUnit.SECONDS);
        assertNotNull(name, "handle was not called after a kick");
        assertTrue(name.startsWith("guestlab-"), name);
        assertEquals(threadName(r.id()), name);
        assertNotEquals(Thread.currentThread().getName(), name);
        assertEquals(List.of(2), r.dev().indices);
        kicksCounted(r, 1);
        assertEquals(1, r.counters().kicks.get());
        assertTrue(r.events().recent().stream().anyMatch(e -> e.kind() == EventKind.KICK));

        List<Thread> t = threadsNamed(name);
        assertEquals(1, t.size());
        assertTrue(t.get(0).isDaemon());

        r.kick().signal();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
        kicksCounted(r, 2);
        assertEquals(2, r.counters().kicks.get());
        assertTrue(r.faults().isEmpty());
    }

    @Test
    void kickByFdNumberAlsoWakes() throws Exception {
        Rig r = rig(0);
        EventFd.signal(r.kick().fd()); // as the kernel's ioeventfd would
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
    }

    @Test
    void wakeRunsHandleButIsNotAKick() throws Exception {
        Rig r = rig(0);
        r.worker().wake();
        String name = r.dev().threads.poll(5, TimeUnit.SECONDS);
        assertNotNull(name, "wake() did not run the device");
        assertEquals(threadName(r.id()), name);
        // The worker counts a wake-up's kicks before it calls the device: handle() having run
        // for the wake, its count is final.
        assertEquals(0, r.counters().kicks.get(), "a host wake is not a guest kick");
        assertTrue(r.events().recent().stream().noneMatch(e -> e.kind() == EventKind.KICK));

        r.kick().signal();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
        kicksCounted(r, 1);
        r.worker().wake();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS), "the wake ran the device");
        assertEquals(1, r.counters().kicks.get(), "only the real kick is counted");
        assertEquals(1, r.events().recent().stream().filter(e -> e.kind() == EventKind.KICK).count());
    }

    @Test
    void ringFaultReachesOnFaultOnceAndStopsTheDevice() throws Exception {
        Rig r = rig(1);
        RingFault boom = new RingFault(RingFault.Reason.CHAIN_LOOP, "driver broke the ring");
        r.dev().toThrow = boom;
        r.kick().signal();
        Await.until("onFault told", r.faults()::size, n -> n >= 1);
        assertSame(boom, r.faults().get(0));
        assertEquals(r.id(), r.faultIds().get(0));
        assertEquals(1, r.dev().calls.get());

        r.dev().toThrow = null;
        r.kick().signal();
        r.worker().wake();
        afterEverythingSignalled(r, 2);
        assertEquals(1, r.dev().calls.get(), "a failed queue no longer calls the device");
        assertEquals(1, r.faults().size(), "onFault told exactly once");
        assertTrue(threadsNamed(threadName(r.id())).stream().allMatch(Thread::isAlive), "thread lives until close");
    }

    @Test
    void runtimeExceptionAlsoGoesToOnFault() throws Exception {
        Rig r = rig(0);
        r.dev().toThrow = new IllegalStateException("bug");
        r.kick().signal();
        Await.until("onFault told", r.faults()::size, n -> n >= 1);
        assertInstanceOf(IllegalStateException.class, r.faults().get(0));
        r.kick().signal();
        afterEverythingSignalled(r, 2);
        assertEquals(1, r.dev().calls.get(), "a failed queue no longer calls the device");
        assertEquals(1, r.faults().size(), "onFault told exactly once");
    }

    @Test
    void haltStopsCallingTheDevice() throws Exception {
        Rig r = rig(0);
        r.worker().halt();
        r.kick().signal();
        r.worker().wake();
        afterEverythingSignalled(r, 1);
        assertEquals(3, r.counters().kicks.get(), "the halted worker still counts kicks");
        assertEquals(0, r.dev().calls.get(), "a halted worker never calls the device");
        assertTrue(r.faults().isEmpty());
    }

    @Test
    void closeEndsTheThreadAndClosesTheOwnedEventFd() throws Exception {
        Rig r = rig(3);
        r.kick().signal();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
        String name = threadName(r.id());
        List<Thread> before = threadsNamed(name);
        assertEquals(1, before.size());
        Thread t = before.get(0);
        assertTrue(t.getName().startsWith("guestlab-"));
        int fd = r.kick().fd();
        Path fdLink = Path.of("/proc/self/fd/" + fd);
        assertTrue(Files.readSymbolicLink(fdLink).toString().contains("eventfd"));

        r.worker().close();
        assertFalse(t.isAlive(), "worker thread still alive after close()");
        assertTrue(threadsNamed(name).isEmpty());
        int callsAtClose = r.dev().calls.get();
        // the owned eventfd is closed: its descriptor is gone (or reused by something that is not it)
        boolean gone = !Files.exists(fdLink, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        assertTrue(gone || !Files.readSymbolicLink(fdLink).toString().contains("eventfd"),
                "eventfd " + fd + " still open after close()");
        r.kick().close(); // idempotent
        r.worker().close(); // so is the worker's
        r.worker().wake(); // and a late host wake-up is ignored, never written to a reused fd number
        assertThrows(IllegalStateException.class, r.kick()::signal, "a closed eventfd refuses signals");
        assertEquals(callsAtClose, r.dev().calls.get());
    }

    @Test
    void aQueueLeftIdleWithAnInterruptHeldBackAsksAgainOnItsOwnThread() throws Exception {
        Rig r = rig(0);
        r.heldBack().held = true; // as if the device's last decision held one back
        r.kick().signal();        // the thread handles this kick, then finds the queue idle
        assertEquals(threadName(r.id()), r.heldBack().rechecks.poll(5, TimeUnit.SECONDS),
                "asked again " + QueueWorker.LATE_INTERRUPT_MILLIS + " ms after the queue went idle");
        assertFalse(r.heldBack().held);
        r.heldBack().held = true;
        r.kick().signal();
        assertNotNull(r.heldBack().rechecks.poll(5, TimeUnit.SECONDS), "and again after the next held-back decision");
        assertTrue(r.faults().isEmpty());
    }

    @Test
    void aRecheckThatFailsStopsOnlyThatQueuesDevice() throws Exception {
        Rig r = rig(0);
        r.heldBack().toThrow = new IllegalStateException("guest memory is gone");
        r.heldBack().held = true;
        r.kick().signal();
        Await.until("the failure reported", r.faults()::size, n -> n == 1);
        assertEquals("guest memory is gone", r.faults().get(0).getMessage());
        assertEquals(r.id(), r.faultIds().get(0));
    }

    @Test
    void closeLeavesABorrowedEventFdOpen() throws Exception {
        TinyDevice dev = new TinyDevice();
        QueueId id = new QueueId("qwt" + SEQ.incrementAndGet(), "tiny", 0);
        try (EventFd kick = EventFd.create()) {
            QueueWorker w = new QueueWorker(dev, id, kick, false, new EventBus(8), new QueueCounters(), (q, t) -> {},
                    new HeldBackProbe());
            w.start();
            kick.signal();
            assertNotNull(dev.threads.poll(5, TimeUnit.SECONDS));
            w.close();
            assertTrue(threadsNamed(threadName(id)).isEmpty());
            assertTrue(Files.readSymbolicLink(Path.of("/proc/self/fd/" + kick.fd())).toString().contains("eventfd"));
            kick.signal(); // still usable
        }
    }
}

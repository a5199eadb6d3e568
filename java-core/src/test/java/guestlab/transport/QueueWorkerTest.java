package guestlab.transport;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.posix.EventFd;
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
import java.util.function.BooleanSupplier;

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

    private final List<QueueWorker> workers = new ArrayList<>();

    @AfterEach
    void closeWorkers() {
        workers.forEach(QueueWorker::close); // idempotent: tests may have closed some already
    }

    private record Rig(TinyDevice dev, QueueId id, EventFd kick, QueueCounters counters, EventBus events,
                       List<Throwable> faults, List<QueueId> faultIds, QueueWorker worker) {}

    private Rig rig(int index) {
        TinyDevice dev = new TinyDevice();
        QueueId id = new QueueId("qwt" + SEQ.incrementAndGet(), "tiny", index);
        EventFd kick = EventFd.create();
        QueueCounters counters = new QueueCounters();
        EventBus events = new EventBus(64);
        List<Throwable> faults = new CopyOnWriteArrayList<>();
        List<QueueId> ids = new CopyOnWriteArrayList<>();
        QueueWorker w = new QueueWorker(dev, id, kick, true, events, counters, (q, t) -> {
            ids.add(q);
            faults.add(t);
        });
        workers.add(w);
        w.start();
        return new Rig(dev, id, kick, counters, events, faults, ids, w);
    }

    private static void waitFor(BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("timed out waiting for " + what);
            Thread.sleep(1);
        }
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
        waitFor(() -> r.counters().kicks.get() == 1, "kick counted");
        assertTrue(r.events().recent().stream().anyMatch(e -> e.kind() == EventKind.KICK));

        List<Thread> t = threadsNamed(name);
        assertEquals(1, t.size());
        assertTrue(t.get(0).isDaemon());

        r.kick().signal();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
        waitFor(() -> r.counters().kicks.get() == 2, "second kick counted");
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
        Thread.sleep(20);
        assertEquals(0, r.counters().kicks.get(), "a host wake is not a guest kick");
        assertTrue(r.events().recent().stream().noneMatch(e -> e.kind() == EventKind.KICK));

        r.kick().signal();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
        waitFor(() -> r.counters().kicks.get() == 1, "real kick counted");
        r.worker().wake();
        assertNotNull(r.dev().threads.poll(5, TimeUnit.SECONDS));
        Thread.sleep(20);
        assertEquals(1, r.counters().kicks.get());
    }

    @Test
    void ringFaultReachesOnFaultOnceAndStopsTheDevice() throws Exception {
        Rig r = rig(1);
        RingFault boom = new RingFault(RingFault.Reason.CHAIN_LOOP, "driver broke the ring");
        r.dev().toThrow = boom;
        r.kick().signal();
        waitFor(() -> r.faults().size() == 1, "onFault");
        assertSame(boom, r.faults().get(0));
        assertEquals(r.id(), r.faultIds().get(0));
        assertEquals(1, r.dev().calls.get());

        r.dev().toThrow = null;
        r.kick().signal();
        waitFor(() -> r.counters().kicks.get() >= 2, "second kick seen by the worker");
        r.kick().signal();
        waitFor(() -> r.counters().kicks.get() >= 3, "third kick seen by the worker");
        r.worker().wake();
        Thread.sleep(30);
        assertEquals(1, r.dev().calls.get(), "a failed queue no longer calls the device");
        assertEquals(1, r.faults().size(), "onFault told exactly once");
        assertTrue(threadsNamed(threadName(r.id())).stream().allMatch(Thread::isAlive), "thread lives until close");
    }

    @Test
    void runtimeExceptionAlsoGoesToOnFault() throws Exception {
        Rig r = rig(0);
        r.dev().toThrow = new IllegalStateException("bug");
        r.kick().signal();
        waitFor(() -> r.faults().size() == 1, "onFault");
        assertInstanceOf(IllegalStateException.class, r.faults().get(0));
        r.kick().signal();
        waitFor(() -> r.counters().kicks.get() >= 2, "second kick");
        Thread.sleep(20);
        assertEquals(1, r.dev().calls.get());
    }

    @Test
    void haltStopsCallingTheDevice() throws Exception {
        Rig r = rig(0);
        r.worker().halt();
        r.kick().signal();
        waitFor(() -> r.counters().kicks.get() == 1, "kick");
        Thread.sleep(20);
        assertEquals(0, r.dev().calls.get());
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
    void closeLeavesABorrowedEventFdOpen() throws Exception {
        TinyDevice dev = new TinyDevice();
        QueueId id = new QueueId("qwt" + SEQ.incrementAndGet(), "tiny", 0);
        try (EventFd kick = EventFd.create()) {
            QueueWorker w = new QueueWorker(dev, id, kick, false, new EventBus(8), new QueueCounters(), (q, t) -> {});
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

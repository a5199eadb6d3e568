package guestlab.virtio;

import guestlab.events.EventBus;
import guestlab.events.QueueCounters;
import guestlab.posix.EventFd;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class QueueWorkerTest {
    /** A device that records the threads it is called on, and fails when told to. */
    static final class Recorder implements VirtioDevice {
        final LinkedBlockingQueue<String> calls = new LinkedBlockingQueue<>();
        volatile boolean fail;

        public int type() { return DeviceType.RNG; }
        public long features() { return 0; }
        public int queueCount() { return 1; }
        public int maxQueueSize(int index) { return 8; }
        public byte[] config() { return new byte[0]; }
        public void start(DeviceContext context) {}
        public void reset() {}

        public void handle(int index) throws RingFault {
            boolean failing = fail; // read before the test can see this call and change it
            calls.add(Thread.currentThread().getName());
            if (failing) throw new RingFault("told to fail");
        }
    }

    @Test
    void kicksRunTheDeviceOnItsThreadAndFaultsStopIt() throws Exception {
        Recorder dev = new Recorder();
        EventFd kick = EventFd.create();
        QueueCounters counters = new QueueCounters();
        List<String> faults = new CopyOnWriteArrayList<>();
        QueueWorker w = new QueueWorker(dev, new QueueId("g", "d", 0), kick, true, new EventBus(16), counters,
                (id, t) -> faults.add(id + " " + t.getMessage())).start();
        kick.signal();
        assertEquals("guestlab-g-d-q0", dev.calls.poll(5, TimeUnit.SECONDS));
        assertEquals(1, counters.kicks.get());
        w.wake();
        assertNotNull(dev.calls.poll(5, TimeUnit.SECONDS));
        assertEquals(1, counters.kicks.get(), "a host wake-up is not a kick");

        dev.fail = true;
        kick.signal();
        assertNotNull(dev.calls.poll(5, TimeUnit.SECONDS));
        kick.signal();
        Thread.sleep(100);
        assertNull(dev.calls.poll(), "a failed device is not called again");
        assertEquals(1, faults.size());
        assertTrue(faults.getFirst().contains("told to fail"));

        w.close();
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("guestlab-g-d-q0")));
    }

    @Test
    void eventfdFoldsSignals() {
        try (EventFd e = EventFd.create()) {
            e.signal();
            e.signal();
            e.signal();
            assertEquals(3, e.await());
        }
    }
}

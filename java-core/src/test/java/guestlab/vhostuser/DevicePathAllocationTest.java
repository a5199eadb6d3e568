package guestlab.vhostuser;

import guestlab.devices.BlockDevice;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.testing.Await;
import guestlab.virtio.Buffer;
import guestlab.virtio.block.BlockSpec;
import guestlab.virtio.driver.DriverQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The device path of a block request, served over vhost-user from kick to interrupt, allocates
 * nothing in steady state: what the device thread allocated, by the JVM's own per-thread count
 * ({@code com.sun.management.ThreadMXBean#getThreadAllocatedBytes}), divided by the requests it
 * served, with nobody subscribed to the events live.
 */
class DevicePathAllocationTest {
    /** Warm-up: mixed batches until one allocates no more than the tolerance, at most this many. */
    private static final int WARM_UP_BATCHES = 20;
    private static final int BATCH = 3_000;
    private static final int MEASURED = 5_000;
    /**
     * Bytes per request allowed on average. Steady state is 0; the allowance is for one-off
     * allocations a long run may still meet, each a few dozen bytes once: a method the JIT
     * deoptimizes and runs interpreted a while (where escape analysis does not remove what the
     * compiled code never made), a request length the device has not completed before
     * (BlockCompletion's shared successes), a chain longer than any before (its buffers grow).
     * Any real per-request allocation is 16 bytes or more per request, well above it.
     */
    private static final double TOLERANCE = 1.0;
    private static final int[] TYPES = {BlockSpec.T_IN, BlockSpec.T_OUT, BlockSpec.T_FLUSH};
    private static final long HEADER = 0x100000, STATUS = 0x100010, DATA = 0x101000;

    @TempDir
    Path dir;

    private final com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @Test
    void readsWritesAndFlushesAllocateNothingOnTheDeviceThread() throws Exception {
        assertTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled(),
                "this JVM counts each thread's allocations");
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[4 << 20]);
        EventBus events = new EventBus(4096);
        try (VhostUserBackend b = new VhostUserBackend("alloc", "blk0", BlockDevice.open(img, false), dir.resolve("blk.sock"), events);
             TestFrontend fe = new TestFrontend(b.socket())) {
            long features = fe.negotiate();
            fe.setMemTable();
            try (TestFrontend.Ring r = fe.ring(0, 0x10000, 128, features)) {
                long device = deviceThread("guestlab-alloc-blk0-q0");
                // Until the JIT has compiled the path: interpreted, the JDK's own code on it allocates (188 bytes a request here).
                int served = 0;
                for (int batch = 0; batch < WARM_UP_BATCHES; batch++) {
                    long before = threads.getThreadAllocatedBytes(device);
                    for (int i = 0; i < BATCH; i++) request(fe, r, TYPES[i % TYPES.length], served++);
                    if (threads.getThreadAllocatedBytes(device) - before <= TOLERANCE * BATCH) break;
                }
                StringBuilder report = new StringBuilder();
                for (int type : TYPES) {
                    long before = threads.getThreadAllocatedBytes(device);
                    for (int i = 0; i < MEASURED; i++) request(fe, r, type, i);
                    long bytes = threads.getThreadAllocatedBytes(device) - before;
                    double perRequest = (double) bytes / MEASURED;
                    report.append(String.format("%s: %d bytes over %d requests (%.3f per request); ",
                            BlockSpec.typeName(type), bytes, MEASURED, perRequest));
                    assertTrue(perRequest <= TOLERANCE, BlockSpec.typeName(type) + " requests allocate on the device thread: " + report);
                }
                System.err.println("DevicePathAllocationTest: device thread " + report);
                assertEquals(served + 3L * MEASURED, b.queues().getFirst().counters().requests(), "every request was served");
                assertTrue(events.recent().stream().anyMatch(e -> e.kind() == EventKind.COMPLETION), "and its events kept");
            }
        }
    }

    /** One request at queue depth 1, as a guest's synchronous I/O: offer, kick, wait for the interrupt, take the answer. */
    private static void request(TestFrontend fe, TestFrontend.Ring r, int type, int n) {
        fe.mem.writeU32(HEADER, type);
        fe.mem.writeU32(HEADER + 4, 0);
        fe.mem.writeU64(HEADER + 8, (n * 37L % 1024) * 8); // 4 KiB blocks all over the 4 MiB image
        fe.mem.writeU8(STATUS, 0xff);
        Buffer header = new Buffer(HEADER, 16), status = new Buffer(STATUS, 1), data = new Buffer(DATA, 4096);
        switch (type) {
            case BlockSpec.T_IN -> r.driver().add(List.of(header), List.of(data, status));
            case BlockSpec.T_OUT -> r.driver().add(List.of(header, data), List.of(status));
            default -> r.driver().add(List.of(header), List.of(status));
        }
        r.kick().signal();
        assertTrue(r.call().await(10_000) > 0, "the back-end interrupted within 10 s");
        DriverQueue.Used used = r.driver().pollUsed();
        assertNotNull(used, "an answer came with the interrupt");
        assertEquals(BlockSpec.S_OK, fe.mem.readU8(STATUS), BlockSpec.typeName(type) + " request " + n);
    }

    /** The id of the thread called {@code name}, once the back-end has started it. */
    private static long deviceThread(String name) {
        return Await.present("the device thread " + name, () -> Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals(name)).findFirst().orElse(null)).threadId();
    }
}

package guestlab.vhostuser;

import guestlab.devices.BlockDevice;
import guestlab.virtio.block.BlockSpec;
import guestlab.devices.RngDevice;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.testing.Await;
import guestlab.testing.Footprint;
import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static guestlab.vhostuser.VhostUserProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

/** The back-end against a front-end that speaks the protocol (and one that breaks it). */
class VhostUserBackendTest {
    @TempDir
    Path dir;
    private final EventBus events = new EventBus(1000);

    /** The back-end's answer: the next used entry of the ring. */
    private static DriverQueue.Used await(TestFrontend.Ring r) {
        return Await.present("the back-end to answer (a used entry in the ring)", r.driver()::pollUsed);
    }

    private void awaitEvent(EventKind kind, String text) {
        Await.until("a " + kind + " event containing '" + text + "' among the recent events", events::recent,
                recent -> recent.stream().anyMatch(e -> e.kind() == kind && e.detail().contains(text)));
    }

    /** Waits for the back-end to report that it released {@code n} connections in all. */
    private void awaitDisconnects(long n) {
        Await.until(n + " connections released", () -> events.recent().stream()
                .filter(e -> e.kind() == EventKind.LIFECYCLE && e.detail().contains("disconnected")).count(), k -> k >= n);
    }

    @Test
    void servesRngOverSharedMemoryAndEventfds() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("rng.sock"), events);
             TestFrontend fe = new TestFrontend(b.socket())) {
            long features = fe.negotiate();
            assertTrue((features & (1L << F_PROTOCOL_FEATURES)) != 0);
            fe.setMemTable();
            try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, features)) {
                r.driver().add(List.of(), List.of(new Buffer(0x100000, 32)));
                r.kick().signal();
                DriverQueue.Used u = await(r);
                assertEquals(32, u.len());
                assertFalse(Arrays.equals(new byte[32], fe.mem.read(0x100000, 32)));
                assertTrue(r.call().await() >= 1, "the back-end interrupted through the call fd");
                assertEquals(1, b.queues().getFirst().counters().requests());
            }
        }
    }

    @Test
    void blockWritesReachTheFileAndConfigComesFromTheDevice() throws Exception {
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[1 << 20]);
        try (VhostUserBackend b = new VhostUserBackend("g", "blk0", BlockDevice.open(img, false), dir.resolve("blk.sock"), events);
             TestFrontend fe = new TestFrontend(b.socket())) {
            long features = fe.negotiate();
            ByteBuffer cfg = ByteBuffer.allocate(12 + 8).order(ByteOrder.LITTLE_ENDIAN).putInt(0).putInt(8).putInt(0);
            fe.send(GET_CONFIG, cfg.array(), List.of());
            assertEquals(2048, fe.reply(GET_CONFIG).getLong(12), "capacity in sectors");
            fe.setMemTable();
            try (TestFrontend.Ring r = fe.ring(0, 0x10000, 128, features)) {
                byte[] data = new byte[4096];
                new Random(3).nextBytes(data);
                long hdr = 0x100000, buf = 0x101000, status = 0x102000;
                for (int type : new int[] {BlockSpec.T_OUT, BlockSpec.T_FLUSH}) {
                    fe.mem.writeU32(hdr, type);
                    fe.mem.writeU64(hdr + 8, 16);
                    fe.mem.write(buf, data);
                    fe.mem.writeU8(status, 0xff);
                    List<Buffer> out = type == BlockSpec.T_OUT
                            ? List.of(new Buffer(hdr, 16), new Buffer(buf, 4096)) : List.of(new Buffer(hdr, 16));
                    r.driver().add(out, List.of(new Buffer(status, 1)));
                    r.kick().signal();
                    await(r);
                    assertEquals(BlockSpec.S_OK, fe.mem.readU8(status));
                }
                assertArrayEquals(data, Arrays.copyOfRange(Files.readAllBytes(img), 16 * 512, 16 * 512 + 4096));
            }
        }
    }

    @Test
    void aRingOutsideSharedMemoryIsReportedNotFatal() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("bad.sock"), events)) {
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                fe.negotiate();
                fe.setMemTable();
                fe.send(SET_VRING_NUM, TestFrontend.state(0, 64), List.of());
                fe.setAddr(0, 0x1000, 0x2000, 0x3000); // not in any region's user addresses
                try (var kick = guestlab.posix.EventFd.create()) {
                    fe.send(SET_VRING_KICK, TestFrontend.u64(0), List.of(kick.fd()));
                    fe.send(SET_VRING_ENABLE, TestFrontend.state(0, 1), List.of());
                    awaitEvent(EventKind.DEVICE_ERROR, "outside the shared memory");
                    assertTrue(b.brokenReason().contains("outside the shared memory"));
                }
            }
            // The back-end forgets the broken session and serves the next front-end.
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                long f = fe.negotiate();
                fe.setMemTable();
                try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, f)) {
                    r.driver().add(List.of(), List.of(new Buffer(0x100000, 8)));
                    r.kick().signal();
                    assertEquals(8, await(r).len());
                }
            }
        }
    }

    @Test
    void aDescriptorLoopBreaksTheDevice() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("loop.sock"), events);
             TestFrontend fe = new TestFrontend(b.socket())) {
            long f = fe.negotiate();
            fe.setMemTable();
            try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, f)) {
                VringLayout ring = r.driver().layout();
                long desc = ring.descriptor(0);
                fe.mem.writeU64(desc + VringLayout.DESC_ADDR, 0x100000);
                fe.mem.writeU32(desc + VringLayout.DESC_LEN, 8);
                fe.mem.writeU16(desc + VringLayout.DESC_FLAGS, VringLayout.DESC_F_NEXT | VringLayout.DESC_F_WRITE);
                fe.mem.writeU16(desc + VringLayout.DESC_NEXT, 0); // NEXT back to itself
                fe.mem.writeU16(ring.availSlot(0), 0);
                fe.mem.writeU16(ring.availIdx(), 1);
                r.kick().signal();
                awaitEvent(EventKind.DEVICE_ERROR, "loop");
                assertTrue(b.queues().getFirst().broken());
            }
        }
    }

    @Test
    void malformedMessagesDropTheConnectionAndAreReported() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("junk.sock"), events)) {
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                fe.send(SET_VRING_NUM, TestFrontend.state(7, 64), List.of());
                awaitEvent(EventKind.DEVICE_ERROR, "vring 7 does not exist");
            }
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                fe.send(SET_MEM_TABLE, new byte[8 + 32], List.of()); // one region, no fd
                awaitEvent(EventKind.DEVICE_ERROR, "SET_MEM_TABLE with 0 regions and 0 fds");
            }
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                fe.send(SET_VRING_NUM, TestFrontend.state(0, 100), List.of());
                awaitEvent(EventKind.DEVICE_ERROR, "not a power of 2");
            }
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                assertEquals(1, fe.getU64(GET_QUEUE_NUM), "still serving after three bad front-ends");
            }
        }
    }

    @Test
    void connectionsComeAndGoWithoutLeakingFds() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("cycle.sock"), events)) {
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                fe.negotiate();
            }
            awaitDisconnects(1); // the warm-up connection's fds are gone
            Footprint opened = Footprint.take();
            for (int i = 0; i < 10; i++) {
                try (TestFrontend fe = new TestFrontend(b.socket())) {
                    long f = fe.negotiate();
                    fe.setMemTable();
                    try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, f)) {
                        r.driver().add(List.of(), List.of(new Buffer(0x100000, 8)));
                        r.kick().signal();
                        await(r);
                        fe.send(GET_VRING_BASE, TestFrontend.state(0, 0), List.of());
                        assertEquals(1, fe.reply(GET_VRING_BASE).getInt(4), "the next avail index to serve");
                    }
                }
            }
            awaitDisconnects(11);
            assertEquals(List.of(), opened.newFds(), "every fd of the ten connections (memory, kick and call fds, sockets) is closed");
            assertEquals(List.of(), opened.newThreads(), "and their device threads ended");
        }
    }
}

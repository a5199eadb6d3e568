package guestlab.vhostuser;

import guestlab.devices.BlockDevice;
import guestlab.devices.RngDevice;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.fuzz.ProcessCensus;
import guestlab.memory.MemfdMemory;
import guestlab.posix.EventFd;
import guestlab.posix.Libc;
import guestlab.posix.UnixSocket;
import guestlab.virtio.Buffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static guestlab.vhostuser.VhostUserProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A front-end that breaks the protocol on purpose, one way per test. Each ends at most its own
 * connection: the back-end reports why, keeps no fd it should not, and serves the next front-end.
 */
class HostileFrontendTest {
    @TempDir
    Path dir;
    private final EventBus events = new EventBus(1000);
    private final BlockingQueue<Event> errors = new LinkedBlockingQueue<>();
    private final BlockingQueue<Event> disconnects = new LinkedBlockingQueue<>();

    {
        events.subscribe(e -> {
            if (e.kind() == EventKind.DEVICE_ERROR) errors.add(e);
            if (e.kind() == EventKind.LIFECYCLE && e.detail().contains("disconnected")) disconnects.add(e);
        });
    }

    private VhostUserBackend rng(String socket) {
        return new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve(socket), events);
    }

    /** The next device error, which must come within 10 s. */
    private String nextError() throws InterruptedException {
        Event e = errors.poll(10, TimeUnit.SECONDS);
        assertNotNull(e, "the back-end reported no error");
        return e.detail();
    }

    /** A new front-end is served: the back-end survived whatever came before. */
    private static void stillServes(VhostUserBackend b) {
        try (TestFrontend fe = new TestFrontend(b.socket())) {
            assertEquals(1, fe.getU64(GET_QUEUE_NUM));
        }
    }

    /** Waits until the back-end has released {@code n} more connections (their fds included). */
    private void awaitDisconnects(int n) throws InterruptedException {
        for (int i = 0; i < n; i++) assertNotNull(disconnects.poll(10, TimeUnit.SECONDS), "a connection was not released");
    }

    private static byte[] memTable(long guestPhys, long size, long userAddr, long offset) {
        return ByteBuffer.allocate(8 + 32).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(1).putInt(0).putLong(guestPhys).putLong(size).putLong(userAddr).putLong(offset).array();
    }

    /** The fds a back-end holds, by kind; another test's that closes meanwhile only shrinks a kind. */
    private static ProcessCensus.Baseline census() {
        return new ProcessCensus.Baseline(ProcessCensus::deviceKind);
    }

    @Test
    void aRegionPastTheEndOfItsFileIsRefusedBeforeItIsMapped() throws Exception {
        try (VhostUserBackend b = rng("past-eof.sock")) {
            try (TestFrontend fe = new TestFrontend(b.socket());
                 MemfdMemory small = MemfdMemory.allocate("small", 2 << 20)) {
                fe.negotiate();
                fe.send(SET_MEM_TABLE, memTable(0, 2 << 20, TestFrontend.USER_BASE, 16 << 20), List.of(small.fd()));
                String why = nextError();
                assertTrue(why.contains("past the end of its file"), why);
            }
            stillServes(b);
        }
    }

    @Test
    void aMemfdTruncatedUnderARunningRingBreaksTheDeviceNotTheProcess() throws Exception {
        try (VhostUserBackend b = rng("truncated.sock")) {
            try (TestFrontend fe = new TestFrontend(b.socket())) {
                long f = fe.negotiate();
                fe.setMemTable();
                try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, f)) {
                    r.driver().add(List.of(), List.of(new Buffer(0x100000, 8)));
                    fe.getU64(GET_QUEUE_NUM); // the back-end has mapped the table and started the ring
                    Libc.ftruncate(fe.mem.fd(), 4096); // the ring's pages now lie past the end of the file: SIGBUS
                    r.kick().signal();
                    String why = nextError();
                    assertTrue(why.contains("mapping fault"), why);
                }
            }
            stillServes(b);
        }
    }

    @Test
    void configRequestsWhoseRangeOverflowsAnIntAreRefused() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "blk0", BlockDevice.open(Files.write(dir.resolve("d.img"),
                new byte[1 << 20]), false), dir.resolve("config.sock"), events)) {
            for (int request : new int[] {GET_CONFIG, SET_CONFIG}) {
                try (TestFrontend fe = new TestFrontend(b.socket())) {
                    byte[] p = ByteBuffer.allocate(12 + 16).order(ByteOrder.LITTLE_ENDIAN)
                            .putInt(0x10).putInt(0x7ffffff0).putInt(0).array();
                    fe.send(request, p, List.of());
                    String why = nextError();
                    assertTrue(why.contains("of 2147483632 bytes at 16"), why);
                }
            }
            stillServes(b);
        }
    }

    @Test
    void aMemoryTableThatCannotBeMappedNamesItsCauseAndClosesEachFdOnce() throws Exception {
        try (VhostUserBackend b = rng("bad-table.sock")) {
            stillServes(b);
            awaitDisconnects(1);
            ProcessCensus.Baseline before = census();
            record Case(byte[] table, int regions, String cause) {}
            List<Case> cases = List.of(
                    new Case(memTable(0, 0, TestFrontend.USER_BASE, 0), 1, "size 0"),
                    new Case(memTable(0, -1L, TestFrontend.USER_BASE, 0), 1, "size 18446744073709551615"),
                    new Case(memTable(0, 1 << 20, TestFrontend.USER_BASE, 100), 1, "not a page-aligned offset"),
                    new Case(ByteBuffer.allocate(8 + 64).order(ByteOrder.LITTLE_ENDIAN).putInt(2).putInt(0)
                            .putLong(0).putLong(1 << 20).putLong(0x1000_0000L).putLong(0)
                            .putLong(0x8_0000).putLong(1 << 20).putLong(0x2000_0000L).putLong(0).array(), 2, "overlap"));
            for (Case c : cases) {
                try (TestFrontend fe = new TestFrontend(b.socket())) {
                    fe.negotiate();
                    fe.send(SET_MEM_TABLE, c.table(), c.regions() == 1 ? List.of(fe.mem.fd()) : List.of(fe.mem.fd(), fe.mem.fd()));
                    String why = nextError();
                    assertTrue(why.contains(c.cause()), why);
                    assertFalse(why.contains("Bad file descriptor"), why);
                }
            }
            stillServes(b);
            awaitDisconnects(cases.size() + 1);
            assertNull(before.check(5000), "every fd that came with a refused table was closed");
        }
    }

    @Test
    void aReplacedCallFdIsClosedWhenItIsReplaced() throws Exception {
        try (VhostUserBackend b = rng("calls.sock");
             TestFrontend fe = new TestFrontend(b.socket())) {
            fe.negotiate();
            try (EventFd first = EventFd.create()) {
                fe.send(SET_VRING_CALL, TestFrontend.u64(0), List.of(first.fd()));
            }
            fe.getU64(GET_QUEUE_NUM); // the back-end has handled everything before this
            ProcessCensus.Baseline before = census();
            for (int i = 0; i < 2000; i++) {
                try (EventFd call = EventFd.create()) {
                    fe.send(SET_VRING_CALL, TestFrontend.u64(0), List.of(call.fd()));
                }
            }
            fe.getU64(GET_QUEUE_NUM);
            assertNull(before.check(5000), "2000 call fds later the back-end holds only the newest");
        }
    }

    @Test
    void theCallFdInUseWhenReplacedStillLetsTheGuestBeInterrupted() throws Exception {
        try (VhostUserBackend b = rng("call-swap.sock");
             TestFrontend fe = new TestFrontend(b.socket())) {
            long f = fe.negotiate();
            fe.setMemTable();
            try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, f); EventFd newer = EventFd.create()) {
                fe.send(SET_VRING_CALL, TestFrontend.u64(0), List.of(newer.fd()));
                fe.getU64(GET_QUEUE_NUM);
                r.driver().add(List.of(), List.of(new Buffer(0x100000, 8)));
                r.kick().signal();
                assertEquals(1, newer.await(), "the interrupt went to the call fd the front-end gave last");
            }
        }
    }

    @Test
    void aSecondServerOnALiveSocketIsRefusedAndTheFirstKeepsServing() throws Exception {
        try (VhostUserBackend first = rng("live.sock")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> rng("live.sock"));
            assertTrue(e.getMessage().contains("is served by a live process"), e.getMessage());
            stillServes(first);
        }
    }

    @Test
    void aStaleSocketFileIsReplacedAndAnotherFileIsNot() throws Exception {
        Path stale = dir.resolve("stale.sock");
        UnixSocket.listen(stale).close(); // a listener that died without removing its file
        assertTrue(Files.exists(stale));
        try (VhostUserBackend b = rng("stale.sock")) {
            stillServes(b);
        }
        Path plain = Files.writeString(dir.resolve("notes.sock"), "mine");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rng("notes.sock"));
        assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
        assertEquals("mine", Files.readString(plain));
    }

    @Test
    void aFrontEndThatSaysNothingDoesNotHoldTheDevice() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("silent.sock"), events, 300);
             TestFrontend silent = new TestFrontend(b.socket())) {
            long t0 = System.nanoTime();
            stillServes(b); // queued behind the silent one until it is dropped
            assertTrue(nextError().contains("sent nothing for 300 ms"));
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10));
        }
    }

    @Test
    void aFrontEndThatStopsInTheMiddleOfAMessageIsDropped() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("stall.sock"), events, 300);
             TestFrontend staller = new TestFrontend(b.socket())) {
            staller.getU64(GET_QUEUE_NUM);
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                staller.socket.send(arena.allocate(6), List.of()); // half a header, then nothing
            }
            stillServes(b);
            assertTrue(nextError().contains("in the middle of a message"));
        }
    }

    @Test
    void aSetUpFrontEndMayBeQuietForLongerThanTheSilenceLimit() throws Exception {
        try (VhostUserBackend b = new VhostUserBackend("g", "rng0", new RngDevice(), dir.resolve("quiet.sock"), events, 200);
             TestFrontend fe = new TestFrontend(b.socket())) {
            long f = fe.negotiate();
            fe.setMemTable();
            try (TestFrontend.Ring r = fe.ring(0, 0x10000, 64, f)) {
                // Quiet on the socket for well past the limit, as a running QEMU is: its rings go on.
                for (int i = 0; i < 5; i++) {
                    r.driver().add(List.of(), List.of(new Buffer(0x100000, 8)));
                    r.kick().signal();
                    assertTrue(r.call().await() >= 1);
                    assertNotNull(r.driver().pollUsed());
                    Thread.sleep(100);
                }
            }
            assertEquals(1, fe.getU64(GET_QUEUE_NUM));
            assertTrue(errors.isEmpty(), () -> "errors: " + errors);
        }
    }
}

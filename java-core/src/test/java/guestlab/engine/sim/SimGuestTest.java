package guestlab.engine.sim;

import guestlab.devices.BufferConsole;
import guestlab.events.Event;
import guestlab.events.EventKind;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;
import guestlab.testing.Await;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.QueueState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** A simulated guest with all four devices, end to end over the lguest bus. */
class SimGuestTest {
    @TempDir
    Path dir;
    private final Launcher launcher = new Launcher();

    @AfterEach
    void stop() {
        launcher.stopAll();
    }

    private SimGuest start(String name, Path disk, boolean readOnly) throws Exception {
        return (SimGuest) launcher.start(new GuestSpec(name, "sim", 16 << 20, List.of(
                new DeviceSpec("console", null, Map.of()),
                new DeviceSpec("block", null, Map.of("file", disk.toString(), "read-only", readOnly)),
                new DeviceSpec("net", null, Map.of("switch", "lan")),
                new DeviceSpec("rng", null, Map.of()))));
    }

    private Path disk(int bytes) throws Exception {
        Path p = dir.resolve("disk-" + bytes + ".img");
        Files.write(p, new byte[bytes]);
        return p;
    }

    @Test
    void blockWritesAreReadBackAndReachTheFileAfterFlush() throws Exception {
        Path img = disk(1 << 20);
        SimGuest g = start("blk", img, false);
        byte[] data = new byte[3 * 4096 + 512];
        new Random(7).nextBytes(data);
        g.block("block0").write(10, data);
        g.block("block0").flush();
        assertArrayEquals(data, g.block("block0").read(10, data.length));
        byte[] file = Files.readAllBytes(img);
        assertArrayEquals(data, Arrays.copyOfRange(file, 10 * 512, 10 * 512 + data.length));
        assertEquals(2048, g.block("block0").capacity());
        assertEquals("disk-1048576.img", g.block("block0").id());
    }

    @Test
    void readOnlyDiskRefusesWritesAndKeepsTheFile() throws Exception {
        Path img = disk(64 * 1024);
        byte[] before = Files.readAllBytes(img);
        SimGuest g = start("ro", img, true);
        assertTrue(g.block("block0").readOnly());
        BlockIoException e = assertThrows(BlockIoException.class, () -> g.block("block0").write(0, new byte[512]));
        assertTrue(e.getMessage().contains("IOERR"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(img));
    }

    @Test
    void consoleCarriesTextBothWays() throws Exception {
        SimGuest g = start("con", disk(4096), false);
        g.console("console0").write("hello from the guest\n");
        BufferConsole host = g.hostConsole("console0");
        assertEquals("hello from the guest", host.awaitText(Pattern.compile("hello from the \\w+"), Duration.ofSeconds(5)));
        host.send("hello from the host\n");
        StringBuilder got = new StringBuilder();
        Await.until("a whole line from the host in the guest's console", () -> {
            got.append(g.console("console0").read(Duration.ofMillis(200)));
            return got.toString();
        }, text -> text.contains("\n"));
        assertEquals("hello from the host\n", got.toString());
    }

    @Test
    void rngGivesFreshBytes() throws Exception {
        SimGuest g = start("rng", disk(4096), false);
        byte[] a = g.rng("rng0").read(64);
        byte[] b = g.rng("rng0").read(64);
        assertEquals(64, a.length);
        assertFalse(Arrays.equals(a, b));
    }

    @Test
    void queueStateFollowsTheRequests() throws Exception {
        SimGuest g = start("state", disk(64 * 1024), false);
        for (int i = 0; i < 5; i++) g.block("block0").read(i, 512);
        QueueState q = g.queues("block0").getFirst();
        assertEquals(5, q.availIdx());
        assertEquals(5, q.usedIdx());
        assertEquals(5, q.lastAvail());
        assertEquals(0, q.pending());
        assertEquals(5, q.counters().requests());
        assertEquals(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK,
                g.deviceStatus("block0"));
        List<Event> completions = g.events().recent().stream()
                .filter(e -> e.kind() == EventKind.COMPLETION && e.device().equals("block0")).toList();
        assertEquals(5, completions.size());
    }

    @Test
    void subscribersSeeKickRequestCompletionInterruptInOrder() throws Exception {
        SimGuest g = start("trace", disk(4096), false);
        List<Event> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (AutoCloseable sub = g.events().subscribe(e -> { if (e.device().equals("rng0")) seen.add(e); })) {
            g.rng("rng0").read(16);
            // The driver may find the used entry before the device thread has raised the irq.
            Await.until("the interrupt event (the fourth of the request's)", () -> List.copyOf(seen), s -> s.size() >= 4);
        }
        List<EventKind> kinds = seen.stream().map(Event::kind).toList();
        assertEquals(List.of(EventKind.KICK, EventKind.REQUEST, EventKind.COMPLETION, EventKind.INTERRUPT), kinds);
        Event completion = seen.get(2);
        assertEquals(0, completion.queue());
        assertEquals(1, completion.index(), "used.idx after the completion");
        assertEquals(16, completion.length());
        assertTrue(completion.latencyNanos() >= 0 && completion.nanos() - completion.latencyNanos() >= seen.get(1).nanos() - 1,
                "latency covers the time from taking the chain: " + completion);
        assertTrue(seen.get(0).nanos() <= seen.get(3).nanos());
        g.rng("rng0").read(16);
        assertEquals(4, seen.size(), "unsubscribed");
    }

    @Test
    void obsoleteRequestsAreRefusedByTheHypervisor() throws Exception {
        SimHypervisor hv = new SimHypervisor("x", guestlab.memory.MemfdMemory.allocate("x", 8192), new guestlab.events.EventBus(4));
        var e = assertThrows(guestlab.lguest.LhReq.ObsoleteRequestException.class, () -> hv.write(new byte[] {1, 0, 0, 0}));
        assertTrue(e.getMessage().contains("LHREQ_GETDMA is obsolete"));
        hv.write(new guestlab.lguest.LhReq.Initialize(0, 1, 0).encode());
        assertEquals(1, hv.init().pfnLimit());
        assertThrows(IllegalStateException.class, () -> hv.write(new guestlab.lguest.LhReq.Initialize(0, 1, 0).encode()),
                "LHREQ_INITIALIZE only once");
    }
}

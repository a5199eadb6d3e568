package guestlab.engine.sim;

import guestlab.devices.BlockDevice;
import guestlab.devices.BlockHandler;
import guestlab.devices.RngDevice;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.events.Subscription;
import guestlab.launcher.Launcher;
import guestlab.testing.Await;
import guestlab.testing.RequiresQemu;
import guestlab.vhostuser.VhostUserBackend;
import guestlab.virtio.ChainView;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.QueueState;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;
import guestlab.virtio.block.BlockRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A sim guest's block driver as a vhost-user front-end, driving a back-end it does not own:
 * guestlab's own, and qemu-storage-daemon's vhost-user-blk export. The image is a real file; what
 * the driver wrote is read back from the file itself. No device side in this JVM sees the rings,
 * yet they show in the guest's queues and events as every other device's do, read from the
 * driver's side; and a back-end that breaks its used ring or asks for a reset is a clean error.
 */
class VhostUserFrontendTest {
    @TempDir
    Path dir;
    private final Launcher launcher = new Launcher();

    @AfterEach
    void stop() {
        launcher.stopAll();
    }

    private Path image(int bytes) throws Exception {
        byte[] content = new byte[bytes];
        new Random(5).nextBytes(content);
        Path img = dir.resolve("disk.img");
        Files.write(img, content);
        return img;
    }

    private SimGuest guestOn(Path socket) throws Exception {
        return (SimGuest) launcher.start(new GuestSpec("front", "sim", 16 << 20, List.of(
                new DeviceSpec("rng", null, Map.of()),
                new DeviceSpec("block", "remote0", Map.of(DeviceSpec.VHOST_USER, socket.toString())))));
    }

    /** Reads, writes and flushes through the back-end, and checks the file holds exactly the writes. */
    private void roundTrip(SimGuest g, Path img) throws Exception {
        byte[] before = Files.readAllBytes(img);
        SimBlockDriver disk = g.block("remote0");
        assertEquals(before.length / 512, disk.capacity(), "capacity read from the back-end's config space");
        assertArrayEquals(Arrays.copyOfRange(before, 4096, 8192), disk.read(8, 4096));
        byte[] data = new byte[8192];
        new Random(6).nextBytes(data);
        disk.write(16, data);
        disk.flush();
        assertArrayEquals(data, disk.read(16, 8192), "read back through the back-end");
        byte[] after = Files.readAllBytes(img);
        assertArrayEquals(data, Arrays.copyOfRange(after, 16 * 512, 16 * 512 + 8192), "in the image file");
        assertArrayEquals(Arrays.copyOfRange(before, 0, 16 * 512), Arrays.copyOfRange(after, 0, 16 * 512), "nothing else moved");
        assertTrue(g.devices().containsAll(List.of("rng0", "remote0")), g.devices().toString());
        assertEquals(16, g.rng("rng0").read(16).length, "the lguest devices work beside it");
    }

    @Test
    void drivesGuestlabsOwnBackEnd() throws Exception {
        Path img = image(1 << 20);
        Path sock = dir.resolve("blk.sock");
        EventBus backendEvents = new EventBus(256);
        try (BlockDevice device = BlockDevice.open(img, false);
             VhostUserBackend backend = new VhostUserBackend("remote", "blk", device, sock, backendEvents)) {
            SimGuest g = guestOn(sock);
            roundTrip(g, img);
            ringsSeenByTheDriver(g);
            assertFalse(backend.queues().isEmpty(), "the back-end runs the ring the front-end set up");
            assertTrue(backend.queues().getFirst().counters().completions() >= 4, backend.queues().toString());
            g.stop();
            Await.until("the back-end to see the front-end go",
                    () -> backendEvents.recent().stream().anyMatch(e -> e.detail().contains("disconnected")));
        }
    }

    /** A front-end connecting to {@code sock} on another thread, as a script would while its back-end starts. */
    private static CompletableFuture<guestlab.vhostuser.VhostUserFrontend> connectingTo(Path sock) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return guestlab.vhostuser.VhostUserFrontend.connect(sock);
            } catch (java.io.IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    void waitsForABackEndWhoseSocketFileIsThereButNotYetListening() throws Exception {
        Path sock = dir.resolve("late.sock");
        guestlab.posix.UnixSocket.listen(sock).close(); // the file stays, nobody listens: connections are refused
        assertTrue(Files.exists(sock));
        CompletableFuture<guestlab.vhostuser.VhostUserFrontend> connecting = connectingTo(sock);
        try (RngDevice device = new RngDevice();
             VhostUserBackend backend = new VhostUserBackend("late", "rng", device, sock, new EventBus(16))) {
            try (guestlab.vhostuser.VhostUserFrontend f = connecting.get(5, TimeUnit.SECONDS)) {
                assertNotEquals(0, f.deviceFeatures(), "connected once the back-end listened, and it answered");
            }
        }
    }

    /**
     * A back-end that finds a stale socket file deletes it, then binds: a front-end that was refused
     * by the old file and then finds none keeps waiting for the new one.
     */
    @Test
    void waitsThroughABackEndReplacingItsStaleSocketFile() throws Exception {
        Path sock = dir.resolve("replaced.sock");
        guestlab.posix.UnixSocket.listen(sock).close(); // stale: refuses connections
        CompletableFuture<guestlab.vhostuser.VhostUserFrontend> connecting = connectingTo(sock);
        Thread.sleep(100); // the front-end is refused by the stale file (it retries every 20 ms)
        Files.delete(sock);
        Thread.sleep(100); // and now finds no file at all
        try (RngDevice device = new RngDevice();
             VhostUserBackend backend = new VhostUserBackend("late", "rng", device, sock, new EventBus(16));
             guestlab.vhostuser.VhostUserFrontend f = connecting.get(5, TimeUnit.SECONDS)) {
            assertNotEquals(0, f.deviceFeatures(), "connected to the back-end that came up");
        }
    }

    @Test
    void drivesARemoteEntropySource() throws Exception {
        Path sock = dir.resolve("rng.sock");
        try (RngDevice device = new RngDevice();
             VhostUserBackend backend = new VhostUserBackend("remote", "rng", device, sock, new EventBus(64))) {
            SimGuest g = (SimGuest) launcher.start(new GuestSpec("front-rng", "sim", 4 << 20, List.of(
                    new DeviceSpec("rng", "entropy", Map.of(DeviceSpec.VHOST_USER, sock.toString())))));
            byte[] a = g.rng("entropy").read(6000), b = g.rng("entropy").read(6000);
            assertEquals(6000, a.length, "more than one request's worth, in several requests");
            assertFalse(Arrays.equals(a, b), "two reads give different bytes");
            assertEquals(guestlab.virtio.DeviceType.RNG, g.deviceType("entropy"));
            QueueState q = g.queues("entropy").getFirst();
            assertEquals(q.usedIdx(), q.availIdx(), "every request came back: " + q);
            assertTrue(q.counters().completions() >= 4, q.toString());
            assertEquals(q.counters().completions(), backend.queues().getFirst().counters().completions(),
                    "the driver collected what the back-end completed");
        }
    }

    @Test
    @Tag("qemu")
    void drivesQemuStorageDaemon() throws Exception {
        String noQemu = RequiresQemu.Check.missing();
        Assumptions.assumeTrue(noQemu == null, noQemu);
        Assumptions.assumeTrue(onPath("qemu-storage-daemon"), "qemu-storage-daemon not found on PATH: install qemu-system-x86");
        Path img = image(1 << 20);
        Path sock = dir.resolve("qsd.sock");
        Process qsd = new ProcessBuilder("qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + img,
                "--export", "type=vhost-user-blk,id=exp0,node-name=file0,writable=on,addr.type=unix,addr.path=" + sock)
                .redirectErrorStream(true).redirectOutput(dir.resolve("qsd.log").toFile()).start();
        try {
            Await.until("qemu-storage-daemon's socket", () -> Files.exists(sock) || !qsd.isAlive());
            assertTrue(qsd.isAlive(), () -> "qemu-storage-daemon ended: " + read(dir.resolve("qsd.log")));
            SimGuest g = guestOn(sock);
            roundTrip(g, img);
            ringsSeenByTheDriver(g);
        } finally {
            qsd.destroy();
            qsd.waitFor();
        }
    }

    private static final int WRITES = 5;

    /**
     * {@value #WRITES} writes of 4 KiB, as the guest's queues, counters and events show them: read
     * from the driver's side of the ring, as for any back-end (both here publish avail_event).
     */
    private void ringsSeenByTheDriver(SimGuest g) {
        QueueState before = g.queues("remote0").getFirst();
        byte[] data = new byte[4096];
        new Random(7).nextBytes(data);
        List<Event> seen = new CopyOnWriteArrayList<>();
        try (Subscription s = g.events().subscribe(e -> {
            if (e.device().equals("remote0")) seen.add(e);
        })) {
            for (int i = 0; i < WRITES; i++) g.block("remote0").write(64 + 8L * i, data);
        }
        QueueState after = g.queues("remote0").getFirst();
        assertTrue(g.queues().stream().anyMatch(q -> q.id().equals(after.id())), "the guest's queues include the remote device's");
        assertEquals(QueueState.Side.DRIVER, after.seenFrom());
        assertEquals(1, g.queues("remote0").size());
        assertEquals((before.availIdx() + WRITES) & 0xffff, after.availIdx());
        assertEquals((before.usedIdx() + WRITES) & 0xffff, after.usedIdx(), "used.idx, read from the used ring");
        assertEquals(0, after.inFlight());
        assertNull(after.fault());
        QueueCounters.Snapshot c0 = before.counters(), c = after.counters();
        assertEquals(WRITES, c.requests() - c0.requests());
        assertEquals(WRITES, c.completions() - c0.completions());
        assertEquals(WRITES * (16L + 4096), c.bytesRead() - c0.bytesRead(), "header and data, offered to the device");
        assertEquals(WRITES, c.bytesWritten() - c0.bytesWritten(), "one status byte each");
        assertEquals(0, c.errors());

        List<Event> requests = seen.stream().filter(e -> e.kind() == EventKind.REQUEST).toList();
        List<Event> completions = seen.stream().filter(e -> e.kind() == EventKind.COMPLETION).toList();
        assertEquals(WRITES, requests.size(), seen.toString());
        assertEquals(WRITES, completions.size(), seen.toString());
        for (int i = 0; i < WRITES; i++) {
            Event req = requests.get(i), done = completions.get(i);
            assertEquals((before.availIdx() + i) & 0xffff, req.index(), "the avail index the chain went into");
            assertEquals(16 + 4096, req.length());
            assertEquals((before.usedIdx() + i + 1) & 0xffff, done.index(), "used.idx after collecting it");
            assertEquals(req.head(), done.head());
            assertEquals(1, done.length());
            assertTrue(done.nanos() >= req.nanos() && done.latencyNanos() == done.nanos() - req.nanos(), done.toString());
        }
        assertEquals(c.kicks() - c0.kicks(), seen.stream().filter(e -> e.kind() == EventKind.KICK).count());
        assertTrue(c.kicks() - c0.kicks() >= 1);
        assertTrue(c.interrupts() - c0.interrupts() >= seen.stream().filter(e -> e.kind() == EventKind.INTERRUPT).count(),
                "an eventfd folds interrupts into one wake-up: at least one counted per event");
        assertTrue(g.events().recent().containsAll(requests), "the events are the guest's, kept with the others");

        // The device's position: the avail_event it publishes once it has taken the last chain.
        Await.until("the back-end's avail_event to reach avail.idx " + after.availIdx(),
                () -> g.queues("remote0").getFirst(), q -> q.lastAvail() == after.availIdx() && q.pending() == 0);

        // The last chain, decoded from guest memory: header, the 4 KiB written, the status byte.
        int head = ChainView.headAt(g.memory(), after, after.availIdx() - 1);
        assertEquals(requests.getLast().head(), head);
        ChainView chain = ChainView.read(g.memory(), after, head);
        assertNull(chain.problem());
        assertEquals(List.of(16L, 4096L, 1L), chain.descriptors().stream().map(ChainView.Descriptor::len).toList());
        assertEquals(List.of(false, false, true), chain.descriptors().stream().map(ChainView.Descriptor::writable).toList());
        long header = chain.descriptors().getFirst().addr();
        assertEquals(1, g.memory().readU32(header), "VIRTIO_BLK_T_OUT");
        assertEquals(64 + 8L * (WRITES - 1), g.memory().readU64(header + 8), "the last write's sector");
        assertArrayEquals(data, g.memory().read(chain.descriptors().get(1).addr(), 4096));
        assertEquals(0, g.memory().readU8(chain.descriptors().get(2).addr()), "VIRTIO_BLK_S_OK");
    }

    /** guestlab's back-end whose writes to {@code sector} go to {@code onSector} first. */
    private VhostUserBackend backEnd(BlockDevice device, Path sock, long sector, Runnable onSector) throws Exception {
        BlockHandler image = device.handler();
        device.setHandler(r -> {
            if (r instanceof BlockRequest.Write w && w.sector() == sector) onSector.run();
            return image.handle(r);
        });
        return new VhostUserBackend("remote", "blk", device, sock, new EventBus(256));
    }

    @Test
    void aBackEndThatWritesGarbageIntoTheUsedRingIsACleanErrorAndAFault() throws Exception {
        Path img = image(1 << 20);
        CountDownLatch holding = new CountDownLatch(1), release = new CountDownLatch(1);
        try (BlockDevice device = BlockDevice.open(img, false);
             VhostUserBackend backend = backEnd(device, dir.resolve("blk.sock"), 99, () -> {
                 holding.countDown();
                 try {
                     release.await();
                 } catch (InterruptedException e) {
                     Thread.currentThread().interrupt();
                 }
             })) {
            SimGuest g = guestOn(dir.resolve("blk.sock"));
            SimBlockDriver disk = g.block("remote0");
            disk.write(0, new byte[512]);
            CompletableFuture<Void> write = CompletableFuture.runAsync(() -> disk.write(99, new byte[512]));
            try {
                assertTrue(holding.await(10, TimeUnit.SECONDS), "the back-end took the write");
                // While the back-end holds the chain, "it" returns a head the driver never offered.
                QueueState q = g.queues("remote0").getFirst();
                VringLayout ring = q.layout();
                int inFlight = ChainView.headAt(g.memory(), q, q.availIdx() - 1);
                int notAHead = (inFlight + 1) % ring.size();
                long element = ring.usedElement(q.usedIdx());
                g.memory().writeU32(element + VringLayout.USED_ELEM_ID, notAHead);
                g.memory().writeU32(element + VringLayout.USED_ELEM_LEN, 1);
                g.memory().writeU16(ring.usedIdx(), q.usedIdx() + 1);

                ExecutionException e = assertThrows(ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
                assertInstanceOf(IllegalStateException.class, e.getCause());
                assertTrue(e.getCause().getMessage().contains("remote0 queue 0 is broken until the device is reset")
                        && e.getCause().getMessage().contains("names head " + notAHead + ", which is not in flight"), e.getCause().getMessage());
            } finally {
                release.countDown();
            }
            QueueState broken = g.queues("remote0").getFirst();
            assertEquals(RingFault.Reason.USED_HEAD_NOT_IN_FLIGHT, broken.fault());
            assertEquals(1, broken.counters().errors());
            assertTrue(g.events().recent().stream().anyMatch(ev -> ev.kind() == EventKind.DEVICE_ERROR
                    && ev.device().equals("remote0") && ev.queue() == 0 && ev.detail().contains("used ring")));
            IllegalStateException again = assertThrows(IllegalStateException.class, () -> disk.read(0, 512));
            assertTrue(again.getMessage().contains("is broken until the device is reset"), "at once, not after a timeout: " + again);
            assertEquals(16, g.rng("rng0").read(16).length, "the guest's other devices go on");
            assertEquals(Guest.State.RUNNING, g.state());
        }
    }

    @Test
    void aBackEndThatBreaksSaysSoThroughItsErrorEventfd() throws Exception {
        Path img = image(1 << 20);
        try (BlockDevice device = BlockDevice.open(img, false);
             VhostUserBackend backend = backEnd(device, dir.resolve("blk.sock"), 98, () -> {
                 throw new IllegalStateException("a handler that fails on sector 98");
             })) {
            SimGuest g = guestOn(dir.resolve("blk.sock"));
            SimBlockDriver disk = g.block("remote0");
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> disk.write(98, new byte[512]));
            assertTrue(e.getMessage().contains("NEEDS_RESET"), e.getMessage());
            assertTrue((g.deviceStatus("remote0") & DeviceStatus.NEEDS_RESET) != 0);
            assertEquals(RingFault.Reason.DEVICE_NEEDS_RESET, g.queues("remote0").getFirst().fault());
            assertEquals(1, g.events().recent().stream().filter(ev -> ev.kind() == EventKind.DEVICE_ERROR
                    && ev.device().equals("remote0")).count(), "told once");
            assertThrows(IllegalStateException.class, () -> disk.read(0, 512));
            assertEquals(1, g.events().recent().stream().filter(ev -> ev.kind() == EventKind.DEVICE_ERROR
                    && ev.device().equals("remote0")).count(), "and only once");
        }
    }

    @Test
    void aMissingBackEndIsAClearStartError() {
        Exception e = assertThrows(Exception.class, () -> guestOn(dir.resolve("nobody.sock")));
        assertTrue(e.getMessage().contains("remote0") && e.getMessage().contains("no vhost-user back-end on"), e.getMessage());
        assertTrue(launcher.guests().isEmpty(), "nothing left running");
    }

    private static boolean onPath(String binary) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!d.isBlank() && new File(d, binary).canExecute()) return true;
        }
        return false;
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}

package guestlab.engine.sim;

import guestlab.devices.BlockDevice;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.events.EventBus;
import guestlab.launcher.Launcher;
import guestlab.testing.Await;
import guestlab.testing.RequiresQemu;
import guestlab.vhostuser.VhostUserBackend;
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

import static org.junit.jupiter.api.Assertions.*;

/**
 * A sim guest's block driver as a vhost-user front-end, driving a back-end it does not own:
 * guestlab's own, and qemu-storage-daemon's vhost-user-blk export. The image is a real file; what
 * the driver wrote is read back from the file itself.
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
            assertFalse(backend.queues().isEmpty(), "the back-end runs the ring the front-end set up");
            assertTrue(backend.queues().getFirst().counters().completions() >= 4, backend.queues().toString());
            g.stop();
            Await.until("the back-end to see the front-end go",
                    () -> backendEvents.recent().stream().anyMatch(e -> e.detail().contains("disconnected")));
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
            roundTrip(guestOn(sock), img);
        } finally {
            qsd.destroy();
            qsd.waitFor();
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

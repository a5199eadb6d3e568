package guestlab.launcher;

import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.DeviceSpec;
import guestlab.devices.EthernetSwitch;
import guestlab.engine.qemu.QemuGuest;

import guestlab.events.Event;
import guestlab.events.EventKind;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** When the engine dies or the kernel cannot start: no lost data, a clear report, nothing left running. */
class QemuFailureTest {
    @TempDir
    Path dir;

    private static long guestlabThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("guestlab-")).count();
    }

    @Test
    void killingQemuMidWriteLosesNothingTheGuestFlushed() throws Exception {
        Path disk = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(256L << 20);
        }
        long threads = guestlabThreads();
        try (Launcher launcher = new Launcher()) {
            QemuGuest g = (QemuGuest) launcher.start(new GuestSpec("victim", "qemu", 256L << 20, List.of(
                    new DeviceSpec("block", null, Map.of("file", disk.toString())))));
            var w = g.console().run("dd if=/dev/urandom of=/tmp/r bs=1M count=8 2>/dev/null && "
                    + "dd if=/tmp/r of=/dev/vda bs=1M oflag=direct 2>/dev/null && sync && sha256sum /tmp/r", Duration.ofSeconds(120));
            var m = java.util.regex.Pattern.compile("([0-9a-f]{64})\\s+/tmp/r").matcher(w.output());
            assertTrue(m.find(), w.output());
            // A long write in flight, then the engine is killed under it.
            g.console().sendLine("dd if=/dev/zero of=/dev/vda bs=1M seek=16 count=200 oflag=direct &");
            Thread.sleep(500);
            ProcessHandle.of(g.qemu().pid()).orElseThrow().destroyForcibly();
            Event died = null;
            for (int i = 0; i < 500 && died == null; i++) {
                died = g.events().recent().stream().filter(e -> e.kind() == EventKind.LIFECYCLE
                        && e.detail().startsWith("engine died")).findFirst().orElse(null);
                if (died == null) Thread.sleep(10);
            }
            assertNotNull(died, "the engine's death is reported");
            assertEquals(Guest.State.FAILED, g.state());
            byte[] flushed = Arrays.copyOf(Files.readAllBytes(disk), 8 << 20);
            assertEquals(m.group(1), HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(flushed)));
            g.stop();
            assertEquals(Guest.State.STOPPED, g.state());
        }
        for (int i = 0; i < 100 && guestlabThreads() != threads; i++) Thread.sleep(20);
        assertEquals(threads, guestlabThreads(), "no device or vhost-user threads left");
    }

    @Test
    void aKernelThatPanicsIsReportedWithItsLastConsoleLines() throws Exception {
        GuestKit real = new DebianKit(DebianKit.defaultCache(), s -> {}).get();
        Path junk = dir.resolve("not-an-initrd.img");
        Files.writeString(junk, "this is not a cpio archive\n");
        GuestKit broken = new GuestKit(real.kernel(), junk, real.kernelVersion());
        long threads = guestlabThreads();
        Exception e = assertThrows(Exception.class, () -> QemuGuest.start(
                new GuestSpec("panic", "qemu", 256L << 20, List.of()), broken, Duration.ofSeconds(60), EthernetSwitch::new, null));
        assertTrue(e.getMessage().contains("Kernel panic"), e.getMessage());
        for (int i = 0; i < 100 && guestlabThreads() != threads; i++) Thread.sleep(20);
        assertEquals(threads, guestlabThreads());
    }
}

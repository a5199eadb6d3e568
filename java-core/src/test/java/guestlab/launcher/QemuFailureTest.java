package guestlab.launcher;

import guestlab.devices.EthernetSwitch;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.Accelerator;
import guestlab.engine.qemu.QemuGuest;
import guestlab.events.EventKind;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.testing.Await;
import guestlab.testing.Footprint;
import guestlab.testing.RequiresQemu;
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
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** When the engine dies or the kernel cannot start: no lost data, a clear report, nothing left running. */
@RequiresQemu
class QemuFailureTest {
    @TempDir
    Path dir;

    /** The block queue's served requests, as the host counts them. */
    private static long blockRequests(QemuGuest g) {
        return g.queues("block0").getFirst().counters().requests();
    }

    @Test
    void killingQemuMidWriteLosesNothingTheGuestFlushed() throws Exception {
        Path disk = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(256L << 20);
        }
        Footprint started = Footprint.take();
        try (Launcher launcher = new Launcher()) {
            QemuGuest g = (QemuGuest) launcher.start(new GuestSpec("victim", "qemu", 256L << 20, List.of(
                    new DeviceSpec("block", null, Map.of("file", disk.toString())))));
            var w = g.console().run("dd if=/dev/urandom of=/tmp/r bs=1M count=8 2>/dev/null && "
                    + "dd if=/tmp/r of=/dev/vda bs=1M oflag=direct 2>/dev/null && sync && sha256sum /tmp/r", Duration.ofSeconds(120));
            var m = Pattern.compile("([0-9a-f]{64})\\s+/tmp/r").matcher(w.output());
            assertTrue(m.find(), w.output());
            // A long write in flight, then the engine is killed under it.
            // The guest prints a marker right before dd starts (computed, so the echoed command line
            // cannot match it), and the host then serves a request of the write.
            g.console().sendLine("(echo \"long-write-$((6*7))\"; exec dd if=/dev/zero of=/dev/vda bs=1M seek=16 count=200 oflag=direct 2>/dev/null) &");
            g.console().expect(Pattern.compile("long-write-42"), Duration.ofSeconds(60));
            long served = blockRequests(g);
            Await.until("the block device to serve a request of the long write", () -> blockRequests(g), n -> n > served);
            ProcessHandle.of(g.qemu().pid()).orElseThrow().destroyForcibly();
            Await.present("an \"engine died\" lifecycle event", () -> g.events().recent().stream()
                    .filter(e -> e.kind() == EventKind.LIFECYCLE && e.detail().startsWith("engine died")).findFirst().orElse(null));
            assertEquals(Guest.State.FAILED, g.state());
            byte[] flushed = Arrays.copyOf(Files.readAllBytes(disk), 8 << 20);
            assertEquals(m.group(1), HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(flushed)));
            g.stop();
            assertEquals(Guest.State.STOPPED, g.state());
        }
        Await.until("the guest's device, vhost-user, console and QMP threads to end", started::newThreads, List::isEmpty);
    }

    @Test
    void aKernelThatPanicsIsReportedWithItsLastConsoleLines() throws Exception {
        GuestKit real = new DebianKit(DebianKit.defaultCache(), s -> {}).get();
        Path junk = dir.resolve("not-an-initrd.img");
        Files.writeString(junk, "this is not a cpio archive\n");
        GuestKit broken = new GuestKit(real.kernel(), junk, real.kernelVersion());
        Footprint started = Footprint.take();
        Exception e = assertThrows(Exception.class, () -> QemuGuest.start(
                new GuestSpec("panic", "qemu", 256L << 20, List.of()), broken, Accelerator.choose(), Duration.ofSeconds(60), EthernetSwitch::new, null));
        assertTrue(e.getMessage().contains("Kernel panic"), e.getMessage());
        Await.until("the threads of the failed start to end", started::newThreads, List::isEmpty);
    }
}

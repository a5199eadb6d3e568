package guestlab.launcher;

import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.DeviceSpec;
import guestlab.engine.qemu.QemuGuest;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fifty real guests started and stopped in one JVM leave nothing behind: no file descriptors,
 * no guestlab threads, no mappings of guest memory, no QEMU processes. About 4 s a cycle.
 */
class QemuCyclesTest {
    @TempDir
    Path dir;

    private static int fds() {
        return new File("/proc/self/fd").list().length;
    }

    private static long threads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("guestlab-")).count();
    }

    private static long memfdMappings() throws Exception {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains("memfd:")).count();
    }

    private static long qemuChildren() {
        return ProcessHandle.current().descendants().filter(p -> p.info().command().orElse("").contains("qemu")).count();
    }

    @Test
    void fiftyStartStopCyclesLeakNothing() throws Exception {
        Path disk = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        GuestSpec spec = new GuestSpec("cycle", "qemu", 128L << 20, List.of(
                new DeviceSpec("block", null, Map.of("file", disk.toString())),
                new DeviceSpec("net", null, Map.of("switch", "lan")),
                new DeviceSpec("rng", null, Map.of())));
        try (Launcher launcher = new Launcher()) {
            launcher.start(spec).stop(); // warm up: class loading, the kit, the JDK's own sockets
            int fds = fds();
            long threads = threads();
            long maps = memfdMappings();
            for (int i = 0; i < 50; i++) {
                QemuGuest g = (QemuGuest) launcher.start(spec);
                assertEquals(0, g.console().run("head -c 512 /dev/vda > /dev/null", java.time.Duration.ofSeconds(60)).exitCode());
                assertTrue(memfdMappings() > maps, "guest memory is mapped while the guest runs");
                g.stop();
                assertEquals(Guest.State.STOPPED, g.state());
            }
            for (int i = 0; i < 100 && (fds() != fds || threads() != threads); i++) Thread.sleep(20);
            assertEquals(fds, fds(), "file descriptors");
            assertEquals(threads, threads(), "guestlab threads");
            assertEquals(maps, memfdMappings(), "mappings of guest memory");
            assertEquals(0, qemuChildren(), "QEMU processes");
            assertEquals(0, launcher.switchNamed("lan").portCount(), "switch ports");
        }
    }
}

package guestlab.launcher;

import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.QemuGuest;
import guestlab.testing.Await;
import guestlab.testing.Footprint;
import guestlab.testing.RequiresQemu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fifty real guests started and stopped in one JVM leave nothing behind: no file descriptors,
 * no guestlab threads, no mappings of guest memory, no QEMU processes. About 4 s a cycle.
 */
@RequiresQemu
class QemuCyclesTest {
    @TempDir
    Path dir;

    /** The JVM's mappings of memfds (guest memory, which QEMU's vhost-user front-end hands over), by inode and name. */
    private static Set<String> memfdMappings() {
        try {
            return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains("memfd:"))
                    .map(l -> l.trim().split("\\s+", 6)).map(f -> f[4] + " " + f[5]).collect(Collectors.toSet());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Mappings of memfds that were not mapped when {@code before} was taken: this test's guests' memory. */
    private static Set<String> newMappings(Set<String> before) {
        Set<String> now = new java.util.TreeSet<>(memfdMappings());
        now.removeAll(before);
        return now;
    }

    /** QEMU processes of this JVM's that were not running when {@code before} was taken. */
    private static List<Long> newQemus(Set<Long> before) {
        return ProcessHandle.current().descendants().filter(p -> !before.contains(p.pid()))
                .filter(p -> p.info().command().orElse("").contains("qemu")).map(ProcessHandle::pid).toList();
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
            Footprint opened = Footprint.take();
            Set<Long> processes = ProcessHandle.current().descendants().map(ProcessHandle::pid).collect(Collectors.toSet());
            Set<String> maps = memfdMappings();
            for (int i = 0; i < 50; i++) {
                QemuGuest g = (QemuGuest) launcher.start(spec);
                assertEquals(0, g.console().run("head -c 512 /dev/vda > /dev/null", java.time.Duration.ofSeconds(60)).exitCode());
                assertFalse(newMappings(maps).isEmpty(), "guest memory is mapped while the guest runs");
                assertTrue(opened.newThreads().stream().anyMatch(t -> t.startsWith("guestlab-cycle-block0-")),
                        () -> "the guest's own device threads are seen: " + opened.newThreads());
                g.stop();
                assertEquals(Guest.State.STOPPED, g.state());
            }
            opened.assertReleased("fifty stopped guests");
            Await.until("the guests' memory to be unmapped", () -> newMappings(maps), Set::isEmpty);
            assertEquals(List.of(), newQemus(processes), "QEMU processes");
            assertEquals(0, launcher.switchNamed("lan").portCount(), "switch ports");
        }
    }
}

package guestlab.engine.sim;

import guestlab.fuzz.ProcessCensus;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Starting and stopping guests leaves nothing behind: no fds, no device threads. */
class LifecycleTest {
    @TempDir
    Path dir;

    /**
     * What a guest holds, counted by kind: a leak grows a kind, while another test's socket or
     * thread that ends meanwhile only shrinks one, so neither can fail this test.
     */
    private ProcessCensus.Baseline census() {
        return new ProcessCensus.Baseline(t -> ProcessCensus.deviceKind(t) || t.startsWith(dir.toString()));
    }

    @Test
    void thirtyStartStopCyclesLeakNothing() throws Exception {
        Path img = dir.resolve("d.img");
        Files.write(img, new byte[1 << 16]);
        GuestSpec spec = new GuestSpec("cycle", "sim", 4 << 20, List.of(
                new DeviceSpec("console", null, Map.of()),
                new DeviceSpec("block", null, Map.of("file", img.toString())),
                new DeviceSpec("net", null, Map.of("switch", "lan")),
                new DeviceSpec("rng", null, Map.of())));
        try (Launcher launcher = new Launcher()) {
            launcher.start(spec).stop(); // warm up class loading and lazily opened files
            ProcessCensus.Baseline before = census();
            for (int i = 0; i < 30; i++) {
                SimGuest g = (SimGuest) launcher.start(spec);
                g.block("block0").write(0, new byte[512]);
                g.rng("rng0").read(16);
                g.stop();
                assertEquals(Guest.State.STOPPED, g.state());
            }
            assertNull(before.check(5000), "fds or guestlab threads left behind");
            assertEquals(List.of(), launcher.guests());
            assertEquals(0, launcher.switchNamed("lan").portCount(), "every net device left the switch");
        }
    }

    @Test
    void aSpecThatFailsHalfwayReleasesWhatWasBuilt() {
        ProcessCensus.Baseline before = census();
        try (Launcher launcher = new Launcher()) {
            GuestSpec bad = new GuestSpec("bad", "sim", 4 << 20, List.of(
                    new DeviceSpec("net", null, Map.of("switch", "lan")),
                    new DeviceSpec("block", null, Map.of("file", dir.resolve("missing.img").toString()))));
            Exception e = assertThrows(java.io.IOException.class, () -> launcher.start(bad));
            assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
            assertEquals(0, launcher.switchNamed("lan").portCount());
        }
        assertNull(before.check(5000), "fds or guestlab threads left behind");
    }

    @Test
    void twoRunningGuestsNeverShareANameButAStoppedOnesNameIsFree() throws Exception {
        GuestSpec spec = new GuestSpec("twin", "sim", 4 << 20, List.of(new DeviceSpec("rng", null, Map.of())));
        try (Launcher launcher = new Launcher()) {
            Guest first = launcher.start(spec);
            var e = assertThrows(IllegalArgumentException.class, () -> launcher.start(spec));
            assertEquals("a guest named twin is already running", e.getMessage());
            assertEquals(List.of(first), launcher.guests(), "the refused start left the first alone");
            first.stop();
            launcher.start(spec).stop();
        }
    }

    @Test
    void memoryBeyondTheHostsRamIsRefusedBeforeAnythingIsMapped() {
        try (Launcher launcher = new Launcher()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> launcher.start(new GuestSpec("big", "sim", 9999999L << 30, List.of())));
            assertTrue(e.getMessage().startsWith("memory " + (9999999L << 30) + " is more than this host's RAM"), e.getMessage());
        }
    }

    @Test
    void badSpecsAreRefusedWithTheFieldNamed() {
        try (Launcher launcher = new Launcher()) {
            var e1 = assertThrows(IllegalArgumentException.class, () -> launcher.start(new GuestSpec("x", "sim", 1000, List.of())));
            assertTrue(e1.getMessage().contains("memory"));
            var e2 = assertThrows(IllegalArgumentException.class, () -> launcher.start(new GuestSpec("x", "kvm", 4 << 20, List.of())));
            assertTrue(e2.getMessage().contains("engines: sim, qemu"));
            var e3 = assertThrows(IllegalArgumentException.class, () -> launcher.start(new GuestSpec("x", "sim", 4 << 20,
                    List.of(new DeviceSpec("rng", "r", Map.of()), new DeviceSpec("rng", "r", Map.of())))));
            assertTrue(e3.getMessage().contains("two devices are named r"));
            var e4 = assertThrows(IllegalArgumentException.class, () -> launcher.start(new GuestSpec("x", "sim", 4 << 20,
                    List.of(new DeviceSpec("block", null, Map.of())))));
            assertTrue(e4.getMessage().contains("needs a file"));
        }
    }
}

package guestlab.launcher;

import guestlab.engine.GuestSpec;
import guestlab.image.KitLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A guest spec's kit lock as the launcher takes it: checked, and verified before anything boots. */
class KitSpecTest {
    @TempDir
    Path dir;

    @Test
    void aKitLockIsForQemuGuests() {
        try (Launcher launcher = new Launcher()) {
            var e = assertThrows(IllegalArgumentException.class, () -> launcher.start(
                    new GuestSpec("s", "sim", 4 << 20, List.of(), null, null, dir.resolve("guestlab-kit.edn"))));
            assertEquals("a kit lock is for qemu guests; a sim guest boots no kernel", e.getMessage());
        }
    }

    @Test
    void aKitLockAndAnOwnKernelAreNotBoth() {
        var e = assertThrows(IllegalArgumentException.class, () -> new GuestSpec("q", "qemu", 256L << 20, List.of(),
                dir.resolve("vmlinuz"), dir.resolve("initrd"), dir.resolve("guestlab-kit.edn")));
        assertEquals("give a kit lock or a kernel and an initrd, not both (the lock names a Debian kernel)", e.getMessage());
    }

    /** Versions Debian never had: apt-get download fails, and the launcher says so before QEMU starts. */
    @Test
    void packagesTheLockNamesThatCannotBeHadAreNamedBeforeAnythingBoots() throws Exception {
        Path f = dir.resolve("old-kit.edn");
        new KitLock(List.of(new KitLock.Package("linux-image-6.1.0-0-amd64", "6.1.0-0guestlabtest", "amd64", "1".repeat(64)),
                new KitLock.Package("busybox-static", "1:0.0-0guestlabtest", "amd64", "2".repeat(64))),
                "6.1.0-0-amd64", "3".repeat(64), "4".repeat(64)).write(f);
        try (Launcher launcher = new Launcher()) {
            var e = assertThrows(IOException.class, () -> launcher.start(
                    new GuestSpec("q", "qemu", 256L << 20, List.of(), null, null, f)));
            assertTrue(e.getMessage().startsWith("kit lock " + f + ": linux-image-6.1.0-0-amd64 6.1.0-0guestlabtest is not in the cache ("),
                    e.getMessage());
            assertTrue(e.getMessage().contains("; busybox-static 1:0.0-0guestlabtest is not in the cache ("), e.getMessage());
            assertTrue(e.getMessage().contains(") and apt-get download failed: "), e.getMessage());
            assertEquals(List.of(), launcher.guests());
        }
    }

    @Test
    void aMissingLockFileIsNamed() {
        try (Launcher launcher = new Launcher()) {
            var e = assertThrows(IOException.class, () -> launcher.start(
                    new GuestSpec("q", "qemu", 256L << 20, List.of(), null, null, dir.resolve("none.edn"))));
            assertEquals("kit lock " + dir.resolve("none.edn") + ": no such file (./guestlab kit lock writes one)", e.getMessage());
        }
    }
}

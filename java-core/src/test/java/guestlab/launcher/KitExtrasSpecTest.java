package guestlab.launcher;

import guestlab.engine.GuestSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A guest spec's kernel modules and Debian packages as the launcher checks them, before any kit is built. */
class KitExtrasSpecTest {
    @TempDir
    Path dir;

    private static IllegalArgumentException refused(GuestSpec spec) {
        try (Launcher launcher = new Launcher()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> launcher.start(spec));
            assertEquals(List.of(), launcher.guests());
            return e;
        }
    }

    @Test
    void modulesAndPackagesAreForQemuGuestsBootingTheDebianKit() {
        assertEquals("modules are for qemu guests, which boot Debian's kernel; a sim guest has no kernel to load modules "
                + "into and no userland to add packages to",
                refused(new GuestSpec("s", "sim", 4 << 20, List.of(), null, null, null, List.of("ext4"), List.of())).getMessage());
        assertEquals("packages are added to the Debian kit's initramfs; a guest with its own kernel and initrd ("
                + dir.resolve("vmlinuz") + ", " + dir.resolve("initrd") + ") boots those as they are",
                refused(new GuestSpec("q", "qemu", 256L << 20, List.of(), dir.resolve("vmlinuz"), dir.resolve("initrd"), null,
                        List.of(), List.of("fio"))).getMessage());
    }

    @Test
    void namesOfTheWrongShapeAreRefused() {
        assertEquals("\"-o\" is not a Debian package name (lower-case letters, digits, '+', '-' and '.', starting with a letter "
                + "or digit)", refused(new GuestSpec("q", "qemu", 256L << 20, List.of(), null, null, null, List.of(),
                List.of("-o"))).getMessage());
        assertEquals("kernel module names are letters, digits, '_' and '-', not \"../ext4\"",
                refused(new GuestSpec("q", "qemu", 256L << 20, List.of(), null, null, null, List.of("../ext4"), List.of()))
                        .getMessage());
    }
}

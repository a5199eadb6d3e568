package guestlab.launcher;

import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.QemuGuest;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.testing.RequiresQemu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** A kernel and initrd given by path instead of the Debian kit (for machines without apt). */
class OwnKernelTest {
    @TempDir
    Path dir;

    @Test
    @RequiresQemu
    void bootsAKernelAndInitrdGivenByPath() throws Exception {
        GuestKit kit = new DebianKit(DebianKit.defaultCache(), s -> {}).get();
        Path kernel = Files.copy(kit.kernel(), dir.resolve("my-vmlinuz"));
        Path initrd = Files.copy(kit.initrd(), dir.resolve("my-initrd.img"));
        try (Launcher launcher = new Launcher()) {
            QemuGuest g = (QemuGuest) launcher.start(new GuestSpec("own", "qemu", 256L << 20,
                    List.of(new DeviceSpec("rng", null, Map.of())), kernel, initrd));
            assertEquals(kit.kernelVersion(), g.console().run("uname -r", Duration.ofSeconds(60)).output().strip());
        }
    }

    @Test
    void halfAKitIsRefused() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new GuestSpec("half", "qemu", 256L << 20, List.of(), dir.resolve("vmlinuz"), null));
        assertTrue(e.getMessage().contains("both a kernel and an initrd"));
    }

    @Test
    void anUnreadableKernelIsNamed() {
        try (Launcher launcher = new Launcher()) {
            var e = assertThrows(java.io.IOException.class, () -> launcher.start(new GuestSpec("gone", "qemu", 256L << 20,
                    List.of(), dir.resolve("no-vmlinuz"), dir.resolve("no-initrd"))));
            assertTrue(e.getMessage().contains("no-vmlinuz"));
        }
    }
}

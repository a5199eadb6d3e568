package guestlab.engine.qemu;

import guestlab.image.GuestKit;
import guestlab.testing.RequiresQemu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** A QEMU that cannot start fails fast, with QEMU's own words, and leaves nothing running. */
class QemuStartFailureTest {
    @Test
    @RequiresQemu
    void aMissingKernelFailsWithQemusMessage(@TempDir Path dir) {
        Path missing = dir.resolve("no-such-vmlinuz");
        QemuCommand cmd = QemuCommand.forKit(new GuestKit(missing, null, "none"), Accelerator.tcg("test"));
        IOException e = assertThrows(IOException.class, () -> QemuProcess.start(cmd));
        assertTrue(e.getMessage().contains("QEMU failed to start"), e.getMessage());
        assertTrue(e.getMessage().contains("could not open kernel file"), "QEMU's own error text: " + e.getMessage());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertTrue(ProcessHandle.current().children().noneMatch(p -> p.info().command().orElse("").contains("qemu")),
                "no QEMU child left");
    }

    @Test
    void aMissingBinaryFailsClearly(@TempDir Path dir) {
        QemuCommand cmd = QemuCommand.forKit(new GuestKit(dir.resolve("k"), null, "none"), Accelerator.tcg("test"))
                .withQemu(dir.resolve("no-qemu-here"));
        IOException e = assertThrows(IOException.class, () -> QemuProcess.start(cmd));
        assertTrue(e.getMessage().contains("cannot start " + dir.resolve("no-qemu-here")), e.getMessage());
    }
}

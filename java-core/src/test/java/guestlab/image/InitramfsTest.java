package guestlab.image;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class InitramfsTest {
    @TempDir
    Path dir;

    @Test
    void writesNewcWithParentsModesAndSymlinks() throws Exception {
        Path out = dir.resolve("initramfs.cpio");
        new Initramfs().dir("proc")
                .file("init", 0755, "#!/bin/sh\n".getBytes())
                .file("lib/modules/virtio.ko", 0644, new byte[] {1, 2, 3})
                .symlink("bin/sh", "busybox")
                .write(out);
        Map<String, CpioArchiveEntry> entries = new LinkedHashMap<>();
        Map<String, byte[]> data = new LinkedHashMap<>();
        try (InputStream in = Files.newInputStream(out);
             CpioArchiveInputStream cpio = new CpioArchiveInputStream(in)) {
            CpioArchiveEntry e;
            while ((e = cpio.getNextEntry()) != null) {
                entries.put(e.getName(), e);
                data.put(e.getName(), cpio.readAllBytes());
            }
        }
        assertEquals(java.util.List.of("proc", "init", "lib", "lib/modules", "lib/modules/virtio.ko", "bin", "bin/sh"),
                java.util.List.copyOf(entries.keySet()), "parents come before their children");
        assertTrue(entries.get("init").isRegularFile());
        assertEquals(0755, entries.get("init").getMode() & 07777);
        assertTrue(entries.get("lib").isDirectory());
        assertTrue(entries.get("bin/sh").isSymbolicLink());
        assertEquals("busybox", new String(data.get("bin/sh")));
        assertArrayEquals(new byte[] {1, 2, 3}, data.get("lib/modules/virtio.ko"));
        assertEquals(org.apache.commons.compress.archivers.cpio.CpioConstants.FORMAT_NEW, entries.get("init").getFormat(),
                "newc (magic 070701), the format the kernel unpacks");
        for (CpioArchiveEntry e : entries.values()) {
            assertEquals(0, e.getTime(), e.getName() + ": no host clock in the archive");
            assertEquals(0, e.getUID());
            assertEquals(0, e.getGID());
        }
        try (var s = Files.list(dir)) {
            assertEquals(java.util.List.of(out), s.toList(), "no temp file left");
        }
    }

    private static Initramfs sample(byte[] busybox) {
        return new Initramfs().dir("proc").file("bin/busybox", 0755, busybox).symlink("bin/sh", "busybox")
                .file("init", 0755, "#!/bin/sh\n".getBytes());
    }

    @Test
    void theSameEntriesGiveTheSameBytes() throws Exception {
        byte[] first = sample(new byte[] {1, 2, 3}).bytes();
        Thread.sleep(1100); // a second later on the clock
        sample(new byte[] {1, 2, 3}).write(dir.resolve("again.cpio"));
        assertArrayEquals(first, Files.readAllBytes(dir.resolve("again.cpio")));
        assertFalse(java.util.Arrays.equals(first, sample(new byte[] {1, 2, 4}).bytes()));
        assertEquals("070701", new String(first, 0, 6), "a plain newc archive: the kernel reads it as is");
    }
}

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
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

class InitramfsTest {
    @TempDir
    Path dir;

    @Test
    void writesGzippedNewcWithParentsModesAndSymlinks() throws Exception {
        Path out = dir.resolve("initrd.img");
        new Initramfs().dir("proc")
                .file("init", 0755, "#!/bin/sh\n".getBytes())
                .file("lib/modules/virtio.ko", 0644, new byte[] {1, 2, 3})
                .symlink("bin/sh", "busybox")
                .write(out);
        Map<String, CpioArchiveEntry> entries = new LinkedHashMap<>();
        Map<String, byte[]> data = new LinkedHashMap<>();
        try (InputStream in = new GZIPInputStream(Files.newInputStream(out));
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
        assertFalse(Files.exists(dir.resolve("initrd.img.tmp")));
    }
}

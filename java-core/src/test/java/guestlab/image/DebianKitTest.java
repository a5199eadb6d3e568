package guestlab.image;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The real kit: Debian's kernel and busybox-static, fetched with apt (once per machine, into the
 * user's cache) and unpacked and assembled here, in a fresh kit directory every run.
 */
class DebianKitTest {
    @TempDir
    Path cache;

    @Test
    void buildsABootableKitFromDebiansPackages() throws Exception {
        Path debs = DebianKit.defaultCache().resolve("debs");
        Files.createDirectories(debs);
        Files.createSymbolicLink(cache.resolve("debs"), debs);
        List<String> progress = new ArrayList<>();
        GuestKit kit = new DebianKit(cache, progress::add).get();

        assertTrue(kit.kernelVersion().matches("\\d+\\.\\d+\\.\\d+-\\d+-amd64"), kit.kernelVersion());
        byte[] bzImage = Files.readAllBytes(kit.kernel().resolveSibling("vmlinuz"));
        assertEquals("HdrS", new String(bzImage, 0x202, 4), "the package's bzImage (boot protocol header), kept");
        assertEquals("vmlinux", kit.kernel().getFileName().toString(), "QEMU boots Debian's kernel uncompressed");
        assertTrue(PvhKernel.hasPvhEntry(kit.kernel()), "through its PVH entry point");
        assertTrue(progress.stream().anyMatch(l -> l.startsWith("building the guest kit")));
        assertTrue(progress.stream().anyMatch(l -> l.startsWith("unpacking the kernel for a fast boot")), progress.toString());

        Map<String, byte[]> files = new HashMap<>();
        List<String> names = new ArrayList<>();
        assertEquals("initramfs.cpio", kit.initrd().getFileName().toString());
        try (InputStream in = Files.newInputStream(kit.initrd());
             CpioArchiveInputStream cpio = new CpioArchiveInputStream(in)) {
            CpioArchiveEntry e;
            while ((e = cpio.getNextEntry()) != null) {
                names.add(e.getName());
                files.put(e.getName(), cpio.readAllBytes());
            }
        }
        assertTrue(new String(files.get("init")).contains("echo " + GuestKit.INIT_MARKER));
        assertEquals("\u007fELF", new String(files.get("bin/busybox"), 0, 4));
        List<String> order = List.of(new String(files.get("etc/guestlab-modules")).strip().split("\n"));
        for (String m : List.of("virtio_blk.ko", "virtio_net.ko", "virtio_console.ko", "virtio-rng.ko", "virtio_pci.ko")) {
            assertTrue(order.contains(m), m + " in " + order);
            assertTrue(names.contains("lib/modules/" + m));
        }
        assertTrue(order.indexOf("virtio_ring.ko") < order.indexOf("virtio.ko"), "dependencies first: " + order);
        assertTrue(order.indexOf("virtio.ko") < order.indexOf("virtio_pci.ko"));
        assertTrue(order.indexOf("failover.ko") < order.indexOf("net_failover.ko"));
        assertTrue(order.indexOf("net_failover.ko") < order.indexOf("virtio_net.ko"));

        List<String> again = new ArrayList<>();
        assertEquals(kit, new DebianKit(cache, again::add).get(), "the second call reuses the kit");
        assertTrue(again.isEmpty(), "nothing rebuilt or downloaded: " + again);
    }
}

package guestlab.image;

import org.apache.commons.compress.archivers.ar.ArArchiveEntry;
import org.apache.commons.compress.archivers.ar.ArArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Small .debs shaped like Debian's kernel and busybox-static packages (control file, data.tar.xz
 * with the files the kit takes), so the kit's fetching, locking and building can be tested in
 * milliseconds and without apt.
 */
public final class FakeDebs {
    public static final String KVER = "6.1.0-99-amd64";
    public static final String KERNEL = "linux-image-" + KVER;
    public static final String KERNEL_VERSION = "6.1.999-1";
    public static final String BUSYBOX_VERSION = "1:1.35.0-4+b3";

    private FakeDebs() {}

    /** linux-image-6.1.0-99-amd64 6.1.999-1: a "bzImage", virtio_rng as a module, the rest built in. */
    public static Path kernel(Path dir, String vmlinuz) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("./boot/vmlinuz-" + KVER, vmlinuz.getBytes(StandardCharsets.UTF_8));
        files.put("./lib/modules/" + KVER + "/modules.builtin", String.join("\n",
                "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/block/virtio_blk.ko",
                "kernel/drivers/net/virtio_net.ko", "kernel/drivers/char/virtio_console.ko", "").getBytes(StandardCharsets.UTF_8));
        files.put("./lib/modules/" + KVER + "/kernel/drivers/char/hw_random/virtio-rng.ko",
                ElfModule.of("license=GPL", "depends=", "name=virtio_rng", "vermagic=6.1.0"));
        return deb(dir, KERNEL, KERNEL_VERSION, files);
    }

    /** busybox-static 1:1.35.0-4+b3 whose bin/busybox holds {@code busybox}. */
    public static Path busybox(Path dir, String busybox) throws IOException {
        return deb(dir, "busybox-static", BUSYBOX_VERSION, Map.of("./bin/busybox", busybox.getBytes(StandardCharsets.UTF_8)));
    }

    /** A .deb named as apt-get download names it, with a control file and these data files. */
    public static Path deb(Path dir, String pkg, String version, Map<String, byte[]> files) throws IOException {
        String control = "Package: " + pkg + "\nSource: fake\nVersion: " + version + "\nArchitecture: amd64\n"
                + "Description: a package made by guestlab's tests\n continued here\n";
        Path p = dir.resolve(pkg + "_" + version.replace(":", "%3a") + "_amd64.deb");
        Files.createDirectories(dir);
        try (OutputStream out = Files.newOutputStream(p); ArArchiveOutputStream ar = new ArArchiveOutputStream(out)) {
            member(ar, "debian-binary", "2.0\n".getBytes(StandardCharsets.UTF_8));
            member(ar, "control.tar.xz", tarXz(Map.of("./control", control.getBytes(StandardCharsets.UTF_8))));
            member(ar, "data.tar.xz", tarXz(files));
        }
        return p;
    }

    private static byte[] tarXz(Map<String, byte[]> files) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (XZCompressorOutputStream xz = new XZCompressorOutputStream(bytes);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(xz)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                TarArchiveEntry e = new TarArchiveEntry(f.getKey());
                e.setSize(f.getValue().length);
                e.setMode(0100644);
                tar.putArchiveEntry(e);
                tar.write(f.getValue());
                tar.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    private static void member(ArArchiveOutputStream ar, String name, byte[] data) throws IOException {
        ar.putArchiveEntry(new ArArchiveEntry(name, data.length));
        ar.write(data);
        ar.closeArchiveEntry();
    }
}

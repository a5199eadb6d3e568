package guestlab.image;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveOutputStream;
import org.apache.commons.compress.archivers.cpio.CpioConstants;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * A gzip-compressed cpio "newc" archive, the format the kernel unpacks as initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): directories, files with modes,
 * and symlinks, in the order added.
 */
public final class Initramfs {
    private record Entry(int type, int mode, byte[] data) {}

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    public Initramfs dir(String path) {
        entries.put(path, new Entry(CpioConstants.C_ISDIR, 0755, new byte[0]));
        return this;
    }

    public Initramfs file(String path, int mode, byte[] data) {
        mkdirs(path);
        entries.put(path, new Entry(CpioConstants.C_ISREG, mode, data));
        return this;
    }

    public Initramfs symlink(String path, String target) {
        mkdirs(path);
        entries.put(path, new Entry(CpioConstants.C_ISLNK, 0777, target.getBytes(StandardCharsets.UTF_8)));
        return this;
    }

    public List<String> paths() {
        return List.copyOf(entries.keySet());
    }

    private void mkdirs(String path) {
        int slash = path.lastIndexOf('/');
        if (slash <= 0) return;
        String parent = path.substring(0, slash);
        if (!entries.containsKey(parent)) {
            mkdirs(parent);
            dir(parent);
        }
    }

    /** Writes the archive, gzip-compressed, to {@code target} (atomically: a temp file renamed). */
    public void write(Path target) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(tmp));
             CpioArchiveOutputStream cpio = new CpioArchiveOutputStream(out, CpioConstants.FORMAT_NEW)) {
            int ino = 1;
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                CpioArchiveEntry ce = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, e.getKey(), e.getValue().data().length);
                ce.setMode(e.getValue().type() | e.getValue().mode());
                ce.setInode(ino++);
                ce.setNumberOfLinks(e.getValue().type() == CpioConstants.C_ISDIR ? 2 : 1);
                cpio.putArchiveEntry(ce);
                cpio.write(e.getValue().data());
                cpio.closeArchiveEntry();
            }
        }
        Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}

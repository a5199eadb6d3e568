package guestlab.image;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveOutputStream;
import org.apache.commons.compress.archivers.cpio.CpioConstants;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A cpio "newc" archive, the format the kernel unpacks as initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): directories, files with modes,
 * and symlinks, in the order added.
 *
 * <p>The same entries give the same bytes on any host, so a kit lock can name the archive by its
 * sha256: entries in the order added, inode numbers counted from 1, mtime 0, owner root (uid and
 * gid 0), device numbers 0, nothing read from the host's clock or files. It is not compressed:
 * gzip's bytes depend on the zlib the JVM carries, and the kernel reads a plain archive as well.
 */
public final class Initramfs {
    private record Entry(int type, int mode, byte[] data) {}

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    public Initramfs dir(String path) {
        return dir(path, 0755);
    }

    /** A directory with these permission bits (e.g. 01777 for /tmp); its parents are made 0755. */
    public Initramfs dir(String path, int mode) {
        mkdirs(path);
        entries.put(path, new Entry(CpioConstants.C_ISDIR, mode, new byte[0]));
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

    /** The archive's bytes. */
    public byte[] bytes() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeTo(out);
        return out.toByteArray();
    }

    /** Writes the archive to {@code target} atomically (a temp file beside it, renamed). */
    public void write(Path target) throws IOException {
        Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), "." + target.getFileName(), ".tmp");
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            try (OutputStream out = Files.newOutputStream(tmp)) {
                writeTo(out);
            }
            Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private void writeTo(OutputStream out) throws IOException {
        CpioArchiveOutputStream cpio = new CpioArchiveOutputStream(out, CpioConstants.FORMAT_NEW);
        int ino = 1;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            CpioArchiveEntry ce = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, e.getKey(), e.getValue().data().length);
            ce.setMode(e.getValue().type() | e.getValue().mode());
            ce.setInode(ino++);
            ce.setNumberOfLinks(e.getValue().type() == CpioConstants.C_ISDIR ? 2 : 1);
            ce.setTime(0);
            ce.setUID(0);
            ce.setGID(0);
            cpio.putArchiveEntry(ce);
            cpio.write(e.getValue().data());
            cpio.closeArchiveEntry();
        }
        cpio.finish(); // the TRAILER!!! entry and padding; out stays open for the caller
    }
}

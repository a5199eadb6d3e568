package guestlab.image;

import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/**
 * A bzImage's kernel as QEMU can boot it fastest: the ELF inside, uncompressed, entered through
 * its PVH entry point. Under TCG a bzImage spends seconds in firmware and in decompressing
 * itself in real mode; QEMU loads a PVH ELF (-kernel vmlinux) directly, which halves the time
 * to init here. Only a kernel built with CONFIG_PVH has the entry (Debian's does).
 *
 * <p>The payload is found as the x86 boot protocol says (Documentation/arch/x86/boot.rst,
 * protocol 2.08+): {@code payload_offset} and {@code payload_length} in the setup header, counted
 * from the protected-mode code, which starts after {@code setup_sects} + 1 sectors.
 */
public final class PvhKernel {
    private PvhKernel() {}

    private static final int SETUP_SECTS = 0x1f1;
    private static final int HEADER_MAGIC = 0x202;      // "HdrS"
    private static final int VERSION = 0x206;
    private static final int PAYLOAD_OFFSET = 0x248;
    private static final int PAYLOAD_LENGTH = 0x24c;
    private static final byte[] XZ = {(byte) 0xfd, '7', 'z', 'X', 'Z', 0};
    private static final byte[] GZIP = {0x1f, (byte) 0x8b};
    /** Xen's ELF note type for the 32-bit PVH entry point (xen/include/public/elfnote.h). */
    private static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    private static final int PT_NOTE = 4;
    /** "Xen\0" as a little-endian int. */
    private static final int XEN_NAME = 'X' | 'e' << 8 | 'n' << 16;

    /**
     * Writes the PVH-bootable ELF inside {@code bzImage} to {@code vmlinux} (replaced atomically)
     * and returns true; returns false, writing nothing, when the image is not a bzImage with an
     * xz or gzip payload, or its kernel has no PVH entry point.
     */
    public static boolean extract(Path bzImage, Path vmlinux) throws IOException {
        byte[] image = Files.readAllBytes(bzImage);
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        if (image.length < PAYLOAD_LENGTH + 4 || b.getInt(HEADER_MAGIC) != 0x53726448 || (b.getShort(VERSION) & 0xffff) < 0x208) {
            return false;
        }
        long start = ((image[SETUP_SECTS] & 0xffL) + 1) * 512 + Integer.toUnsignedLong(b.getInt(PAYLOAD_OFFSET));
        long length = Integer.toUnsignedLong(b.getInt(PAYLOAD_LENGTH));
        if (start + length > image.length) return false;
        InputStream payload = new ByteArrayInputStream(image, (int) start, (int) length);
        byte[] head = Arrays.copyOfRange(image, (int) start, (int) Math.min(start + XZ.length, image.length));
        InputStream elf;
        if (startsWith(head, XZ)) elf = new XZCompressorInputStream(payload);
        else if (startsWith(head, GZIP)) elf = new GzipCompressorInputStream(payload);
        else return false;
        Path tmp = vmlinux.resolveSibling(vmlinux.getFileName() + ".part");
        try (InputStream in = elf; OutputStream out = Files.newOutputStream(tmp)) {
            in.transferTo(out);
        }
        try {
            if (!hasPvhEntry(tmp)) {
                Files.delete(tmp);
                return false;
            }
            Files.move(tmp, vmlinux, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return true;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Whether the ELF64 file has a "Xen" note of type PHYS32_ENTRY in a PT_NOTE segment. Reads
     * only the headers and the note segments, not the whole kernel.
     */
    static boolean hasPvhEntry(Path elf) throws IOException {
        try (FileChannel f = FileChannel.open(elf)) {
            ByteBuffer h = read(f, 0, 64);
            if (h == null || h.getInt(0) != 0x464c457f || h.get(4) != 2 || h.get(5) != 1) return false; // ELF, 64-bit, LE
            long phoff = h.getLong(32);
            int phentsize = h.getShort(54) & 0xffff, phnum = h.getShort(56) & 0xffff;
            if (phentsize < 56) return false;
            for (int i = 0; i < phnum; i++) {
                ByteBuffer ph = read(f, phoff + (long) i * phentsize, 56);
                if (ph == null) return false;
                if (ph.getInt(0) != PT_NOTE) continue;
                long size = ph.getLong(32);
                if (size < 0 || size > MAX_NOTES) return false;
                ByteBuffer notes = read(f, ph.getLong(8), (int) size);
                if (notes == null) return false;
                if (hasPvhNote(notes)) return true;
            }
            return false;
        }
    }

    /** The largest PT_NOTE segment read: a kernel's notes are a few hundred bytes. */
    private static final int MAX_NOTES = 1 << 20;

    /** Notes are {u32 namesz, u32 descsz, u32 type, name padded to 4, desc padded to 4}. */
    private static boolean hasPvhNote(ByteBuffer notes) {
        long at = 0;
        while (at + 12 <= notes.limit()) {
            int namesz = notes.getInt((int) at), descsz = notes.getInt((int) at + 4), type = notes.getInt((int) at + 8);
            if (namesz < 0 || descsz < 0) return false;
            long name = at + 12;
            if (namesz == 4 && type == XEN_ELFNOTE_PHYS32_ENTRY && name + 4 <= notes.limit()
                    && notes.getInt((int) name) == XEN_NAME) {
                return true;
            }
            at = name + align4(namesz) + align4(descsz);
        }
        return false;
    }

    /** {@code n} bytes at {@code pos}, little-endian; null if the file ends first. */
    private static ByteBuffer read(FileChannel f, long pos, int n) throws IOException {
        if (pos < 0 || pos > f.size() - n) return null;
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (f.read(b, pos + b.position()) < 0) return null;
        }
        return b.flip();
    }

    private static long align4(long n) {
        return (n + 3) & ~3L;
    }

    private static boolean startsWith(byte[] a, byte[] prefix) {
        return a.length >= prefix.length && Arrays.equals(Arrays.copyOf(a, prefix.length), prefix);
    }
}

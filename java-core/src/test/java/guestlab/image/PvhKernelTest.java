package guestlab.image;

import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/** bzImages built here byte by byte, as the x86 boot protocol lays them out, around tiny ELF kernels. */
class PvhKernelTest {
    @TempDir
    Path dir;

    /** An ELF64 with one PT_NOTE segment holding a note named {@code name} of type {@code type}. */
    static byte[] elf(String name, int type) {
        byte[] n = (name + "\0").getBytes();
        int namePadded = (n.length + 3) & ~3;
        int noteSize = 12 + namePadded + 8;
        ByteBuffer b = ByteBuffer.allocate(64 + 56 + noteSize).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 0x464c457f).put(4, (byte) 2).put(5, (byte) 1).put(6, (byte) 1);
        b.putLong(32, 64).putShort(54, (short) 56).putShort(56, (short) 1);
        b.putInt(64, 4).putLong(64 + 8, 120).putLong(64 + 32, noteSize); // PT_NOTE at 120
        b.putInt(120, n.length).putInt(124, 8).putInt(128, type).put(132, n);
        b.putLong(132 + namePadded, 0x1000000L);
        return b.array();
    }

    /** A bzImage (boot protocol 2.15, one setup sector) whose payload is {@code kernel} compressed by {@code compress}. */
    static byte[] bzImage(byte[] kernel, Function<OutputStream, OutputStream> compress) throws IOException {
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        try (OutputStream out = compress.apply(z)) {
            out.write(kernel);
        }
        byte[] payload = z.toByteArray();
        int setupSects = 1, pmStart = (setupSects + 1) * 512, payloadOffset = 0x100;
        ByteBuffer b = ByteBuffer.allocate(pmStart + payloadOffset + payload.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0x1f1, (byte) setupSects).putInt(0x202, 0x53726448).putShort(0x206, (short) 0x20f);
        b.putInt(0x248, payloadOffset).putInt(0x24c, payload.length);
        b.put(pmStart + payloadOffset, payload);
        return b.array();
    }

    private static OutputStream xz(OutputStream o) {
        try {
            return new XZCompressorOutputStream(o);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static OutputStream gzip(OutputStream o) {
        try {
            return new GzipCompressorOutputStream(o);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private Path write(String name, byte[] data) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, data);
        return p;
    }

    @Test
    void aKernelWithAPvhEntryComesOutUncompressedFromXzAndGzip() throws IOException {
        byte[] kernel = elf("Xen", 18);
        for (var c : java.util.List.<Function<OutputStream, OutputStream>>of(PvhKernelTest::xz, PvhKernelTest::gzip)) {
            Path out = dir.resolve("vmlinux");
            assertTrue(PvhKernel.extract(write("vmlinuz", bzImage(kernel, c)), out));
            assertArrayEquals(kernel, Files.readAllBytes(out));
            assertFalse(Files.exists(dir.resolve("vmlinux.part")), "no partial file left");
        }
    }

    @Test
    void aKernelWithoutAPvhEntryIsLeftAsABzImage() throws IOException {
        Path out = dir.resolve("vmlinux");
        assertFalse(PvhKernel.extract(write("other-note", bzImage(elf("Xen", 17), PvhKernelTest::xz)), out));
        assertFalse(PvhKernel.extract(write("not-xen", bzImage(elf("GNU", 18), PvhKernelTest::xz)), out));
        assertFalse(Files.exists(out), "nothing written");
        assertFalse(Files.exists(dir.resolve("vmlinux.part")), "no partial file left");
    }

    @Test
    void filesThatAreNoBzImageAreRefusedWithoutReadingPastTheirEnd() throws IOException {
        Path out = dir.resolve("vmlinux");
        assertFalse(PvhKernel.extract(write("empty", new byte[0]), out));
        assertFalse(PvhKernel.extract(write("elf", elf("Xen", 18)), out), "an ELF is not a bzImage");
        byte[] truncated = bzImage(elf("Xen", 18), PvhKernelTest::xz);
        assertFalse(PvhKernel.extract(write("short", java.util.Arrays.copyOf(truncated, 0x300)), out),
                "a payload running past the file's end");
        byte[] lz4ish = bzImage(elf("Xen", 18), PvhKernelTest::xz);
        lz4ish[2 * 512 + 0x100] = 0x02; // not xz's or gzip's magic
        assertFalse(PvhKernel.extract(write("unknown-compression", lz4ish), out));
        assertFalse(Files.exists(out));
    }
}

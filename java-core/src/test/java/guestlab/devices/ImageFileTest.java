package guestlab.devices;

import guestlab.posix.IoVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Scattered transfers between an image and native memory land where they should; host failures are errors. */
class ImageFileTest {
    @TempDir
    Path dir;

    /** Native buffers of the given sizes (uneven, so that short transfers resume inside a buffer). */
    private static List<MemorySegment> buffers(Arena arena, int... sizes) {
        List<MemorySegment> out = new ArrayList<>();
        for (int s : sizes) out.add(arena.allocate(s));
        return out;
    }

    /** The buffers as one scatter-gather list, in order. */
    private static IoVector pieces(List<MemorySegment> buffers) {
        IoVector v = new IoVector();
        for (MemorySegment b : buffers) v.add(b, 0, b.byteSize());
        return v;
    }

    private static byte[] concat(List<MemorySegment> buffers) {
        int n = 0;
        for (MemorySegment b : buffers) n += (int) b.byteSize();
        byte[] out = new byte[n];
        int at = 0;
        for (MemorySegment b : buffers) {
            MemorySegment.copy(b, ValueLayout.JAVA_BYTE, 0, out, at, (int) b.byteSize());
            at += (int) b.byteSize();
        }
        return out;
    }

    @Test
    void aLargeScatteredWriteAndReadRoundTrip() throws Exception {
        Path img = dir.resolve("disk.img");
        Files.write(img, new byte[4 << 20]);
        byte[] data = new byte[2 << 20];
        new Random(7).nextBytes(data);
        try (Arena arena = Arena.ofShared(); ImageFile f = ImageFile.open(img, false)) {
            // starts inside a write piece; the 1.2 MB buffer spans several of them
            List<MemorySegment> out = buffers(arena, 4096, 300_000, 1536, 1_200_000, 512, 591_008);
            int at = 0;
            for (MemorySegment b : out) {
                MemorySegment.copy(data, at, b, ValueLayout.JAVA_BYTE, 0, (int) b.byteSize());
                at += (int) b.byteSize();
            }
            f.write(pieces(out), 512 * 1000);
            f.flush();
            List<MemorySegment> in = buffers(arena, 700_000, 1_397_152);
            f.read(pieces(in), 512 * 1000);
            assertArrayEquals(data, concat(in), "read back through the device's own path");
        }
        byte[] file = Files.readAllBytes(img);
        assertArrayEquals(data, Arrays.copyOfRange(file, 512 * 1000, 512 * 1000 + data.length), "the bytes on the host");
        assertEquals(4 << 20, file.length, "nothing written outside the range");
    }

    @Test
    void aWriteLandsWhetherItBringsNewPagesIntoTheCacheOrOverwritesCachedOnes() throws Exception {
        Path img = dir.resolve("sparse.img");
        try (RandomAccessFile raf = new RandomAccessFile(img.toFile(), "rw")) {
            raf.setLength(4 << 20); // a hole: the first write puts new pages in the cache, in pieces
        }
        long at = (1 << 20) + 4096;
        try (Arena arena = Arena.ofShared(); ImageFile f = ImageFile.open(img, false)) {
            for (int seed = 1; seed <= 2; seed++) { // the second write is over the pages the first cached
                byte[] data = new byte[(2 << 20) + 512];
                new Random(seed).nextBytes(data);
                List<MemorySegment> out = buffers(arena, 700_000, (2 << 20) + 512 - 700_000);
                MemorySegment.copy(data, 0, out.get(0), ValueLayout.JAVA_BYTE, 0, 700_000);
                MemorySegment.copy(data, 700_000, out.get(1), ValueLayout.JAVA_BYTE, 0, data.length - 700_000);
                f.write(pieces(out), at);
                byte[] file = Files.readAllBytes(img);
                assertArrayEquals(data, Arrays.copyOfRange(file, (int) at, (int) at + data.length), "write " + seed + " on the host");
                assertEquals(4 << 20, file.length, "nothing written outside the range");
            }
        }
    }

    @Test
    void whatLiesPastTheEndOfTheFileReadsAsZeros() throws Exception {
        Path img = dir.resolve("short.img");
        byte[] content = new byte[300_000];
        Arrays.fill(content, (byte) 5);
        Files.write(img, content);
        try (Arena arena = Arena.ofShared(); ImageFile f = ImageFile.open(img, true)) {
            List<MemorySegment> in = buffers(arena, 200_000, 200_000, 124_288);
            for (MemorySegment b : in) b.fill((byte) 0x77);
            f.read(pieces(in), 0);
            byte[] got = concat(in);
            for (int i = 0; i < got.length; i++) {
                assertEquals(i < content.length ? 5 : 0, got[i], "byte " + i);
            }
        }
    }

    @Test
    void aHostWriteThatFailsIsAnError() throws Exception {
        Path img = dir.resolve("ro.img");
        Files.write(img, new byte[2 << 20]);
        try (Arena arena = Arena.ofShared(); ImageFile f = ImageFile.open(img, true)) { // writes get EBADF
            IOException small = assertThrows(IOException.class, () -> f.write(pieces(buffers(arena, 512)), 0));
            assertTrue(small.getMessage().contains("pwritev"), small.getMessage());
            assertThrows(IOException.class, () -> f.write(pieces(buffers(arena, 4096, 1 << 20)), 0), "a scattered write");
        }
    }

    @Test
    void aMissingImageIsNamed() {
        assertThrows(NoSuchFileException.class, () -> ImageFile.open(dir.resolve("nope.img"), false));
    }

    @Test
    void closingTwiceIsHarmlessAndFlushAfterCloseIsRefused() throws Exception {
        Path img = dir.resolve("t.img");
        Files.write(img, new byte[4096]);
        ImageFile f = ImageFile.open(img, false);
        f.close();
        f.close();
        assertFalse(f.isOpen());
        assertThrows(IllegalStateException.class, f::flush, "no fsync of a file descriptor number that may be reused");
    }
}

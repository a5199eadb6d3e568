package guestlab.posix;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What PosixFile tells about the page cache: written pages are there, a hole and the space past the end are not. */
class PosixFileTest {
    @TempDir
    Path dir;

    /** cachestat(2) came in Linux 6.5; before it every range reads as not cached. */
    private static boolean kernelHasCachestat() {
        String[] v = System.getProperty("os.version").split("[.-]");
        int major = Integer.parseInt(v[0]), minor = Integer.parseInt(v[1]);
        return major > 6 || (major == 6 && minor >= 5);
    }

    @Test
    void pagesJustWrittenAreCachedAndAHoleIsNot() throws Exception {
        assumeTrue(kernelHasCachestat(), "cachestat(2) came in Linux 6.5; this kernel is " + System.getProperty("os.version"));
        Path img = dir.resolve("sparse.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(8 << 20);            // a hole: no page of it has been read or written
            f.seek(1 << 20);
            f.write(new byte[1 << 20]);      // the second MiB is in the cache now
        }
        try (PosixFile f = PosixFile.open(img, true)) {
            assertTrue(f.cached(1 << 20, 1 << 20), "the MiB just written");
            assertTrue(f.cached((1 << 20) + 100, 5000), "a range inside it that is not page-aligned");
            assertFalse(f.cached(4 << 20, 1 << 20), "a MiB of the hole");
            assertFalse(f.cached((2 << 20) - 4096, 8192), "a range half written, half hole");
            assertFalse(f.cached(16 << 20, 4096), "past the end of the file");
            assertFalse(f.cached(0, 0), "an empty range");
        }
    }

    @Test
    void aClosedFileIsRefused() throws Exception {
        Path img = dir.resolve("t.img");
        Files.write(img, new byte[4096]);
        PosixFile f = PosixFile.open(img, true);
        f.close();
        assertThrows(IllegalStateException.class, () -> f.cached(0, 4096));
    }
}

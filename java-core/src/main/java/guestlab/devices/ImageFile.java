package guestlab.devices;

import guestlab.posix.PosixException;
import guestlab.posix.PosixFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * A raw disk image on the host, moving data straight between the file and guest memory: one
 * positional preadv/pwritev per request, its iovecs pointing into guest RAM. A host failure is an
 * {@link IOException} naming the call and errno.
 */
final class ImageFile implements AutoCloseable {
    private final PosixFile file;

    private ImageFile(PosixFile file) {
        this.file = file;
    }

    static ImageFile open(Path path, boolean readOnly) throws IOException {
        try {
            return new ImageFile(PosixFile.open(path, readOnly));
        } catch (PosixException e) {
            if (e.errno() == PosixFile.ENOENT) throw new NoSuchFileException(path.toString());
            throw new IOException(e.getMessage(), e);
        }
    }

    long size() throws IOException {
        return host(file::size);
    }

    /** Fills {@code buffers} from byte {@code pos}; what lies past the end of the file reads as zeros. */
    void read(List<MemorySegment> buffers, long pos) throws IOException {
        long n = host(() -> file.readFully(buffers, pos));
        for (MemorySegment b : buffers) {
            if (n >= b.byteSize()) {
                n -= b.byteSize();
            } else {
                b.asSlice(n).fill((byte) 0);
                n = 0;
            }
        }
    }

    /** Writes all of {@code buffers} at byte {@code pos}, extending the file if need be. */
    void write(List<MemorySegment> buffers, long pos) throws IOException {
        host(() -> {
            file.writeFully(buffers, pos);
            return null;
        });
    }

    /** The data written so far is on stable storage when this returns (fsync). */
    void flush() throws IOException {
        host(() -> {
            file.fsync();
            return null;
        });
    }

    boolean isOpen() {
        return file.isOpen();
    }

    @Override
    public void close() {
        file.close();
    }

    /** Runs a libc call on the file; its failure becomes the IOException the device reports. */
    private static <T> T host(java.util.function.Supplier<T> call) throws IOException {
        try {
            return call.get();
        } catch (PosixException e) {
            throw new IOException(e.getMessage(), e);
        }
    }
}

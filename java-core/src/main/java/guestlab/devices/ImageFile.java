package guestlab.devices;

import guestlab.posix.PosixException;
import guestlab.posix.PosixFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A raw disk image on the host, moving data straight between the file and guest memory. A large
 * transfer is cut into parts that run on several host threads at once (as qemu-storage-daemon
 * runs a request's pieces on its thread pool): copying into the page cache is CPU work, and while
 * the guest waits for its disk the host has idle cores. Every part has finished before a call
 * returns, so no transfer into guest memory outlives the request that asked for it.
 */
final class ImageFile implements AutoCloseable {
    /** Transfers smaller than two of these run on the calling thread alone. */
    static final long MIN_PART = 128 * 1024;

    private final Path path;
    private final PosixFile file;
    private final ExecutorService helpers;
    private final int parts;

    private ImageFile(Path path, PosixFile file) {
        this.path = path;
        this.file = file;
        int helperThreads = Math.clamp(Runtime.getRuntime().availableProcessors() - 1, 1, 3);
        this.parts = helperThreads + 1;
        this.helpers = Executors.newFixedThreadPool(helperThreads,
                Thread.ofPlatform().daemon().name("guestlab-" + path.getFileName() + "-io-", 0).factory());
    }

    static ImageFile open(Path path, boolean readOnly) throws IOException {
        try {
            return new ImageFile(path, PosixFile.open(path, readOnly));
        } catch (PosixException e) {
            if (e.errno() == PosixFile.ENOENT) throw new NoSuchFileException(path.toString());
            throw new IOException(e.getMessage(), e);
        }
    }

    long size() throws IOException {
        try {
            return file.size();
        } catch (PosixException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Fills {@code buffers} from byte {@code pos}; what lies past the end of the file reads as zeros. */
    void read(List<MemorySegment> buffers, long pos) throws IOException {
        run(buffers, pos, (part, at) -> {
            long n = file.readFully(part, at);
            for (MemorySegment b : part) {
                if (n >= b.byteSize()) {
                    n -= b.byteSize();
                } else {
                    b.asSlice(n).fill((byte) 0);
                    n = 0;
                }
            }
        });
    }

    /** Writes all of {@code buffers} at byte {@code pos}, extending the file if need be. */
    void write(List<MemorySegment> buffers, long pos) throws IOException {
        run(buffers, pos, file::writeFully);
    }

    /** The data written so far is on stable storage when this returns (fsync). */
    void flush() throws IOException {
        try {
            file.fsync();
        } catch (PosixException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    boolean isOpen() {
        return file.isOpen();
    }

    @Override
    public void close() {
        helpers.shutdown();
        try {
            if (!helpers.awaitTermination(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("I/O threads of " + path + " did not stop");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            file.close();
        }
    }

    private interface Part {
        void move(List<MemorySegment> buffers, long pos);
    }

    /** Runs {@code op} over the buffers, in parts on the helper threads when they are large enough. */
    private void run(List<MemorySegment> buffers, long pos, Part op) throws IOException {
        long total = 0;
        for (MemorySegment b : buffers) total += b.byteSize();
        int n = (int) Math.min(parts, total / MIN_PART);
        List<List<MemorySegment>> split = n < 2 ? List.of(buffers) : split(buffers, (total + n - 1) / n);
        List<Future<?>> pending = new ArrayList<>();
        RuntimeException failed = null;
        long at = pos + bytes(split.getFirst());
        for (List<MemorySegment> part : split.subList(1, split.size())) {
            long partAt = at;
            try {
                pending.add(helpers.submit(() -> op.move(part, partAt)));
            } catch (RejectedExecutionException closing) {
                failed = new IllegalStateException(path + " is closing");
            }
            at += bytes(part);
        }
        try {
            if (failed == null) op.move(split.getFirst(), pos);
        } catch (RuntimeException e) {
            failed = e;
        }
        for (Future<?> f : pending) {
            Throwable t = awaitUninterruptibly(f); // every part, failed or not: they touch guest memory
            if (failed == null && t != null) failed = t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
        if (failed != null) throw new IOException(failed.getMessage(), failed);
    }

    /** Waits for {@code f} even if interrupted (keeping the interrupt); returns what it threw, or null. */
    private static Throwable awaitUninterruptibly(Future<?> f) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    f.get();
                    return null;
                } catch (ExecutionException e) {
                    return e.getCause();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** Cuts the buffers into consecutive parts of about {@code size} bytes, slicing a buffer where needed. */
    private static List<List<MemorySegment>> split(List<MemorySegment> buffers, long size) {
        List<List<MemorySegment>> parts = new ArrayList<>();
        List<MemorySegment> part = new ArrayList<>();
        long room = size;
        for (MemorySegment b : buffers) {
            while (b.byteSize() > 0) {
                long take = Math.min(room, b.byteSize());
                part.add(b.asSlice(0, take));
                b = b.asSlice(take);
                room -= take;
                if (room == 0) {
                    parts.add(part);
                    part = new ArrayList<>();
                    room = size;
                }
            }
        }
        if (!part.isEmpty()) parts.add(part);
        return parts;
    }

    private static long bytes(List<MemorySegment> buffers) {
        long n = 0;
        for (MemorySegment b : buffers) n += b.byteSize();
        return n;
    }
}

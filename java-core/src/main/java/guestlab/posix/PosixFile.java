package guestlab.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A host file opened through libc, for positional scatter/gather I/O straight between the file
 * and native memory: one preadv(2)/pwritev(2) moves a whole list of buffers, and since no call
 * uses the file offset, several threads may transfer at once. FileChannel has no positional
 * gathering call, and its buffers would need wrapping per transfer.
 */
@SuppressWarnings("restricted")
public final class PosixFile implements AutoCloseable {
    public static final int ENOENT = 2;
    private static final int O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0x80000;
    private static final int SEEK_END = 2;
    /** cachestat counts pages; with larger pages than these a range never looks wholly cached. */
    private static final long PAGE = 4096;
    /** Linux's UIO_MAXIOV: more buffers than this are moved in several calls. */
    private static final int IOV_MAX = 1024;
    private static final long IOVEC_BYTES = 16; // struct iovec { void *iov_base; size_t iov_len; }

    // open(2) is variadic (the mode follows the flags).
    private static final MethodHandle OPEN = Libc.bind("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle LSEEK = Libc.bind("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle PREADV = Libc.bind("preadv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    private static final MethodHandle PWRITEV = Libc.bind("pwritev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    private static final MethodHandle FSYNC = Libc.bind("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    /** cachestat(2) (Linux 6.5) has no libc wrapper: syscall(2), variadic after the number, with
     *  {@code struct cachestat_range {u64 off, len}} in and {@code struct cachestat} (nr_cache first) out. */
    private static final MethodHandle CACHESTAT = Libc.bind("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), Linker.Option.firstVariadicArg(1));
    private static final long SYS_CACHESTAT = 451; // the same number on x86-64 and arm64
    /** Cleared once the kernel refuses cachestat, so that it is not asked again. */
    private static volatile boolean cachestatWorks = true;

    /**
     * Each thread's iovec array for {@link #transfer} (its errno state is the thread's
     * {@link CallScratch}), so that a request allocates nothing: owned by the thread, freed by the
     * collector once the thread is gone.
     */
    private static final ThreadLocal<MemorySegment> IOVECS = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(IOVEC_BYTES * IOV_MAX, 8));

    private final int fd;
    private volatile boolean closed;

    private PosixFile(int fd) {
        this.fd = fd;
    }

    /** Opens an existing file, read-only or read-write. */
    public static PosixFile open(Path path, boolean readOnly) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path.toString()),
                    (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
            return new PosixFile(Libc.check(fd, "open", state));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** The file's length in bytes now. */
    public long size() {
        checkOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            long n = (long) LSEEK.invokeExact(state, fd, 0L, SEEK_END);
            if (n < 0) throw new PosixException("lseek", Libc.errno(state));
            return n;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /**
     * Fills the pieces of {@code buffers} from the file at {@code offset}, in order, until they are
     * full or the file ends; returns the bytes read (less than their total only at the end of the file).
     */
    public long readFully(IoVector buffers, long offset) {
        return transfer(PREADV, "preadv", buffers, offset, Long.MAX_VALUE);
    }

    /**
     * Writes all pieces of {@code buffers} to the file at {@code offset}, in order, extending it if
     * need be; no single pwritev crosses a multiple of {@code piece} bytes of the file.
     */
    public void writeFully(IoVector buffers, long offset, long piece) {
        if (piece <= 0) throw new IllegalArgumentException("piece of " + piece + " bytes");
        transfer(PWRITEV, "pwritev", buffers, offset, piece);
    }

    /**
     * Whether every page of the file from {@code offset} for {@code length} bytes is in the page
     * cache now (cachestat(2)); false when the kernel cannot tell (before Linux 6.5) or the call
     * fails. A hint: the answer may change as soon as it is given.
     */
    public boolean cached(long offset, long length) {
        checkOpen();
        if (!cachestatWorks || length <= 0) return false;
        try {
            CallScratch s = CallScratch.mine();
            s.cacheRange.set(JAVA_LONG, 0, offset);
            s.cacheRange.set(JAVA_LONG, 8, length);
            long r = (long) CACHESTAT.invokeExact(s.state, SYS_CACHESTAT, fd, s.cacheRange, s.cacheStat, 0);
            if (r < 0) {
                int e = Libc.errno(s.state);
                if (e == Libc.ENOSYS || e == Libc.EPERM) cachestatWorks = false; // an older kernel, or a seccomp filter
                return false;
            }
            long pages = (offset + length - 1) / PAGE - offset / PAGE + 1;
            return s.cacheStat.get(JAVA_LONG, 0) >= pages;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** fsync(2): the file's data and metadata are on stable storage when it returns. */
    public void fsync() {
        checkOpen();
        try {
            MemorySegment state = CallScratch.mine().state;
            Libc.check((int) FSYNC.invokeExact(state, fd), "fsync", state);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public boolean isOpen() {
        return !closed;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        Libc.close(fd);
    }

    /** A closed descriptor's number may already name another file: refuse instead. */
    private void checkOpen() {
        if (closed) throw new IllegalStateException("file is closed");
    }

    /**
     * Repeats the call past short transfers and EINTR, each call ending at the next multiple of
     * {@code piece} bytes of the file at the latest; stops early only at the end of the file (a
     * read of 0).
     */
    private long transfer(MethodHandle call, String name, IoVector buffers, long offset, long piece) {
        checkOpen();
        long done = 0;
        try {
            MemorySegment iov = IOVECS.get();
            MemorySegment state = CallScratch.mine().state;
            int first = 0;      // the first buffer not yet wholly moved
            long skip = 0;      // bytes of it already moved
            while (first < buffers.count()) {
                long room = piece - (offset + done) % piece; // bytes to the piece's end
                int count = 0;
                for (int i = first; i < buffers.count() && count < IOV_MAX && room > 0; i++, count++) {
                    long at = i == first ? skip : 0;
                    long len = Math.min(buffers.length(i) - at, room);
                    iov.set(JAVA_LONG, IOVEC_BYTES * count, buffers.address(i) + at);
                    iov.set(JAVA_LONG, IOVEC_BYTES * count + 8, len);
                    room -= len;
                }
                long n = (long) call.invokeExact(state, fd, iov, count, offset + done);
                if (n < 0) {
                    int e = Libc.errno(state);
                    if (e == Libc.EINTR) continue;
                    throw new PosixException(name, e);
                }
                if (n == 0) {
                    if (call == PREADV) return done;
                    throw new PosixException(name, Libc.EIO); // a write that moves nothing would loop forever
                }
                done += n;
                skip += n;
                while (first < buffers.count() && skip >= buffers.length(first)) {
                    skip -= buffers.length(first);
                    first++;
                }
            }
            return done;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }
}

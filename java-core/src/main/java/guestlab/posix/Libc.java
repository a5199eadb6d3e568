package guestlab.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few libc calls guestlab needs, bound through java.lang.foreign (no JNI). Every call
 * captures errno and turns a -1 return into a {@link PosixException} naming the call. The calls
 * a device thread makes per request capture it into the thread's {@link CallScratch}, so they
 * allocate nothing.
 */
@SuppressWarnings("restricted") // the FFM boundary: native calls are this package's whole job
public final class Libc {
    private Libc() {}

    public static final int PROT_READ = 1, PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int MFD_CLOEXEC = 1;
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EPERM = 1, EINTR = 4, EIO = 5, EAGAIN = 11, ENOSYS = 38;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** A downcall that captures errno; {@code more} adds options (firstVariadicArg for open(2)). */
    static MethodHandle bind(String name, FunctionDescriptor fd, Linker.Option... more) {
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        Linker.Option[] options = java.util.Arrays.copyOf(more, more.length + 1);
        options[more.length] = CAPTURE_ERRNO;
        return LINKER.downcallHandle(symbol, fd, options);
    }

    private static final MethodHandle MEMFD_CREATE = bind("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FTRUNCATE = bind("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MMAP = bind("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = bind("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle FSTAT = bind("fstat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EVENTFD = bind("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = bind("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle POLL = bind("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LIBC.find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    /** memfd_create(2): an anonymous file to back guest RAM, shareable with another process by fd. */
    public static int memfdCreate(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) MEMFD_CREATE.invokeExact(state, arena.allocateFrom(name), MFD_CLOEXEC);
            return check(fd, "memfd_create", state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void ftruncate(int fd, long size) {
        try {
            MemorySegment state = CallScratch.mine().state;
            check((int) FTRUNCATE.invokeExact(state, fd, size), "ftruncate", state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mmap(2) of {@code length} bytes of {@code fd} at {@code offset}, read-write, shared. The
     * mapping is a segment of {@code arena}: closing the arena unmaps it, and any later access
     * through the segment or its slices throws instead of touching unmapped memory.
     */
    public static MemorySegment mmapShared(int fd, long length, long offset, Arena arena) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment state = call.allocate(CALL_STATE);
            MemorySegment p = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, length,
                    PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
            if (p.address() == -1L) {
                throw new PosixException("mmap", errno(state));
            }
            return p.reinterpret(length, arena, Libc::munmapQuietly);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The arena's cleanup: munmap(2) cannot fail on a mapping we made, and there is nobody to tell. */
    private static void munmapQuietly(MemorySegment mapping) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) MUNMAP.invokeExact(arena.allocate(CALL_STATE), mapping, mapping.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** What fstat(2) says of an fd: its type bits and size. */
    public record FileStatus(int mode, long size) {
        private static final int S_IFMT = 0xf000, S_IFREG = 0x8000;

        public boolean isRegularFile() {
            return (mode & S_IFMT) == S_IFREG;
        }
    }

    /** fstat(2); {@code struct stat} on x86_64 has st_mode at byte 24 and st_size at byte 48. */
    public static FileStatus fstat(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment st = arena.allocate(144, 8);
            check((int) FSTAT.invokeExact(state, fd, st), "fstat", state);
            return new FileStatus(st.get(JAVA_INT, 24), st.get(JAVA_LONG, 48));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void close(int fd) {
        try {
            MemorySegment state = CallScratch.mine().state;
            check((int) CLOSE.invokeExact(state, fd), "close", state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd(int initial, int flags) {
        try {
            MemorySegment state = CallScratch.mine().state;
            return check((int) EVENTFD.invokeExact(state, initial, flags), "eventfd", state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** read(2) into {@code buf}, retrying on EINTR; returns the byte count. */
    public static long read(int fd, MemorySegment buf, String what) {
        try {
            MemorySegment state = CallScratch.mine().state;
            while (true) {
                long n = (long) READ.invokeExact(state, fd, buf, buf.byteSize());
                if (n >= 0) return n;
                int e = errno(state);
                if (e != EINTR) throw new PosixException(what, e);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** write(2) of all of {@code buf}, retrying on EINTR; returns the byte count. */
    public static long write(int fd, MemorySegment buf, String what) {
        try {
            MemorySegment state = CallScratch.mine().state;
            while (true) {
                long n = (long) WRITE.invokeExact(state, fd, buf, buf.byteSize());
                if (n >= 0) return n;
                int e = errno(state);
                if (e != EINTR) throw new PosixException(what, e);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Waits until {@code fd} is readable (poll(2) with POLLIN, no timeout), retrying on EINTR. */
    public static void awaitReadable(int fd) {
        awaitReadable(fd, -1);
    }

    /**
     * Waits until {@code fd} is readable, hung up or in error (poll(2) with POLLIN), at most
     * {@code timeoutMillis} (-1: no limit); false if the time ran out first.
     */
    public static boolean awaitReadable(int fd, int timeoutMillis) {
        try {
            CallScratch scratch = CallScratch.mine();
            MemorySegment state = scratch.state;
            MemorySegment pfd = scratch.pollfd;
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 4, (short) 1); // POLLIN
            while (true) {
                int n = (int) POLL.invokeExact(state, pfd, 1L, timeoutMillis);
                if (n >= 0) return n > 0;
                int e = errno(state);
                if (e != EINTR) throw new PosixException("poll", e);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static int check(int result, String call, MemorySegment state) {
        if (result == -1) throw new PosixException(call, errno(state));
        return result;
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}

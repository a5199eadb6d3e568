package guestlab.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * AF_UNIX stream sockets through FFM, with what the JDK's own channels cannot do: receiving file
 * descriptors (SCM_RIGHTS), as vhost-user's SET_MEM_TABLE and SET_VRING_KICK/CALL carry them.
 */
public final class UnixSocket implements AutoCloseable {
    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int SHUT_RDWR = 2;
    /** Most fds one message may carry (vhost-user: 8 memory regions). */
    public static final int MAX_FDS = 8;

    private static final MethodHandle SOCKET = Libc.bind("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = Libc.bind("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = Libc.bind("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = Libc.bind("accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG = Libc.bind("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = Libc.bind("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG = Libc.bind("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SHUTDOWN = Libc.bind("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    private final int fd;
    private volatile boolean closed;

    private UnixSocket(int fd) {
        this.fd = fd;
    }

    /**
     * A listening socket at {@code path}. A stale socket file there (nobody accepts on it) is
     * replaced; a live one, or a file that is no socket, is refused: taking the name of a
     * socket another process serves would leave that process running but unreachable.
     */
    public static UnixSocket listen(Path path) {
        if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!isSocket(path)) throw new IllegalArgumentException(path + " exists and is not a socket; refusing to replace it");
            if (isServed(path)) {
                throw new IllegalStateException(path + " is served by a live process (a connection to it succeeded); "
                        + "stop that process or choose another path");
            }
            try {
                Files.deleteIfExists(path);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot replace the stale socket " + path, e);
            }
        }
        return open(path, (state, s, addr) -> {
            Libc.check((int) BIND.invokeExact(state, s, addr, 110), "bind " + path, state);
            Libc.check((int) LISTEN.invokeExact(state, s, 4), "listen", state);
        });
    }

    private static boolean isSocket(Path path) {
        try {
            // st_mode's type bits: S_IFSOCK is 0140000
            return Files.getAttribute(path, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS) instanceof Integer mode
                    && (mode & 0xf000) == 0xc000;
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** Whether a process accepts connections at {@code path} (connect succeeds; ECONNREFUSED: stale). */
    private static boolean isServed(Path path) {
        try (UnixSocket probe = connect(path)) {
            return true;
        } catch (PosixException e) {
            return false;
        }
    }

    /** Connects to the listening socket at {@code path}. */
    public static UnixSocket connect(Path path) {
        return open(path, (state, s, addr) -> Libc.check((int) CONNECT.invokeExact(state, s, addr, 110), "connect " + path, state));
    }

    /** What to do with a new socket and the address of {@code path} (bind and listen, or connect). */
    @FunctionalInterface
    private interface Setup {
        void apply(MemorySegment state, int socket, MemorySegment address) throws Throwable;
    }

    private static UnixSocket open(Path path, Setup setup) {
        byte[] p = pathBytes(path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            int s = Libc.check((int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket", state);
            try {
                setup.apply(state, s, address(arena, p));
                return new UnixSocket(s);
            } catch (Throwable t) {
                Libc.close(s);
                throw t;
            }
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    private static byte[] pathBytes(Path path) {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length >= 108) throw new IllegalArgumentException("unix socket path too long (max 107 bytes): " + path);
        return p;
    }

    /** struct sockaddr_un for {@code path}. */
    private static MemorySegment address(Arena arena, byte[] path) {
        MemorySegment addr = arena.allocate(110);
        addr.set(JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(path, 0, addr, JAVA_BYTE, 2, path.length);
        return addr;
    }

    /** Sends all of {@code buf} with {@code fds} attached to its first byte (SCM_RIGHTS). */
    public void send(MemorySegment buf, List<Integer> fds) {
        ensureOpen();
        if (fds.size() > MAX_FDS) throw new IllegalArgumentException("at most " + MAX_FDS + " fds per message");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            MemorySegment iov = arena.allocate(16);
            iov.set(ADDRESS, 0, buf);
            iov.set(JAVA_LONG, 8, buf.byteSize());
            MemorySegment msg = arena.allocate(56, 8);
            msg.set(ADDRESS, 16, iov);
            msg.set(JAVA_LONG, 24, 1);
            if (!fds.isEmpty()) {
                long len = 16 + 4L * fds.size(); // CMSG_LEN
                MemorySegment control = arena.allocate((len + 7) & ~7L, 8);
                control.set(JAVA_LONG, 0, len);
                control.set(JAVA_INT, 8, SOL_SOCKET);
                control.set(JAVA_INT, 12, SCM_RIGHTS);
                for (int i = 0; i < fds.size(); i++) control.set(JAVA_INT, 16 + 4L * i, fds.get(i));
                msg.set(ADDRESS, 32, control);
                msg.set(JAVA_LONG, 40, control.byteSize());
            }
            long n;
            while (true) {
                n = (long) SENDMSG.invokeExact(state, fd, msg, 0x4000); // MSG_NOSIGNAL
                if (n >= 0) break;
                int e = Libc.errno(state);
                if (e != Libc.EINTR) throw new PosixException("sendmsg", e);
            }
            if (n < buf.byteSize()) writeFully(buf.asSlice(n));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Waits for a connection; throws {@link PosixException} once this socket is shut down. */
    public UnixSocket accept() {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            int c = (int) ACCEPT4.invokeExact(state, fd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
            return new UnixSocket(Libc.check(c, "accept", state));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Bytes and the file descriptors that came with them. */
    public record Received(int length, List<Integer> fds) {}

    /**
     * Reads up to {@code buf.byteSize()} bytes and any fds sent with them (SCM_RIGHTS, marked
     * close-on-exec). Length 0 means the peer closed the connection.
     */
    public Received receive(MemorySegment buf) {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            MemorySegment iov = arena.allocate(16);
            iov.set(ADDRESS, 0, buf);
            iov.set(JAVA_LONG, 8, buf.byteSize());
            long controlLen = 16 + 4L * MAX_FDS; // CMSG_SPACE(8 ints) = 16 + 32
            MemorySegment control = arena.allocate(controlLen, 8);
            MemorySegment msg = arena.allocate(56, 8); // struct msghdr on x86_64
            msg.set(ADDRESS, 16, iov);
            msg.set(JAVA_LONG, 24, 1);
            msg.set(ADDRESS, 32, control);
            msg.set(JAVA_LONG, 40, controlLen);
            long n;
            while (true) {
                n = (long) RECVMSG.invokeExact(state, fd, msg, MSG_CMSG_CLOEXEC);
                if (n >= 0) break;
                int e = Libc.errno(state);
                if (e != Libc.EINTR) throw new PosixException("recvmsg", e);
            }
            List<Integer> fds = new ArrayList<>();
            long used = msg.get(JAVA_LONG, 40);
            if (used >= 16 && control.get(JAVA_INT, 8) == SOL_SOCKET && control.get(JAVA_INT, 12) == SCM_RIGHTS) {
                long len = control.get(JAVA_LONG, 0);
                for (long off = 16; off + 4 <= Math.min(len, controlLen); off += 4) fds.add(control.get(JAVA_INT, off));
            }
            return new Received((int) n, fds);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Waits at most {@code timeoutMillis} (-1: no limit) for something to read, or for the peer to go. */
    public boolean awaitReadable(int timeoutMillis) {
        ensureOpen();
        return Libc.awaitReadable(fd, timeoutMillis);
    }

    /**
     * Reads exactly {@code buf.byteSize()} bytes; false if the peer closed first. Fds that come
     * along are closed. A peer that sends nothing for {@code stallMillis} (-1: no limit) between
     * two parts has stalled: {@link TimeoutException}.
     */
    public boolean readFully(MemorySegment buf, int stallMillis) throws TimeoutException {
        long got = 0;
        while (got < buf.byteSize()) {
            if (!awaitReadable(stallMillis)) throw new TimeoutException("nothing to read for " + stallMillis + " ms");
            Received r = receive(buf.asSlice(got));
            r.fds().forEach(Libc::close);
            if (r.length() == 0) return false;
            got += r.length();
        }
        return true;
    }

    public void writeFully(MemorySegment buf) {
        ensureOpen();
        long done = 0;
        while (done < buf.byteSize()) done += Libc.write(fd, buf.asSlice(done), "socket write");
    }

    /** Wakes a thread blocked in accept or receive on this socket; it then fails or reads 0. */
    public void shutdown() {
        if (closed) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            int ignored = (int) SHUTDOWN.invokeExact(state, fd, SHUT_RDWR); // ENOTCONN on a listener is fine
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Refused once closed: the fd number may already belong to another file. */
    private void ensureOpen() {
        if (closed) throw new IllegalStateException("unix socket " + fd + " is closed");
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }
}

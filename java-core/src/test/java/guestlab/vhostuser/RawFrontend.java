package guestlab.vhostuser;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeoutException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A vhost-user front-end's socket that never blocks for long: every send and every read waits at
 * most a deadline (poll(2)), so a back-end that stops answering is a timeout the fuzz target
 * reports, not a hung fuzzer. Sends any bytes with any fds (SCM_RIGHTS), including headers that
 * lie about their size. Not thread-safe.
 */
@SuppressWarnings("restricted") // its own socket calls, so that every wait has a deadline
final class RawFrontend implements AutoCloseable {
    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1;
    private static final int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
    private static final int POLLIN = 1, POLLOUT = 4;
    private static final int EINTR = 4, EAGAIN = 11, EPIPE = 32, ECONNRESET = 104;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = bind("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONNECT = bind("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG = bind("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECV = bind("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle POLL = bind("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private static MethodHandle bind(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, Linker.Option.captureCallState("errno"));
    }

    /** One reply: its header fields and payload. */
    record Reply(int request, int flags, byte[] payload) {
        long u64(int at) {
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getLong(at);
        }
    }

    private final int fd;
    private final long timeoutNanos;
    private boolean closed;

    private RawFrontend(int fd, long timeoutMillis) {
        this.fd = fd;
        this.timeoutNanos = timeoutMillis * 1_000_000;
    }

    /** Connects to the back-end's socket; at most {@code timeoutMillis} is spent in any later wait. */
    static RawFrontend connect(Path path, long timeoutMillis) {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(STATE);
            int s = (int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s < 0) throw new IllegalStateException("socket: errno " + errno(state));
            MemorySegment addr = arena.allocate(110);
            addr.set(JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(p, 0, addr, JAVA_BYTE, 2, p.length);
            if ((int) CONNECT.invokeExact(state, s, addr, 110) < 0) {
                int e = errno(state);
                int ignored = (int) CLOSE.invokeExact(state, s);
                throw new IllegalStateException("connect " + path + ": errno " + e);
            }
            return new RawFrontend(s, timeoutMillis);
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    /** A whole message: header {request, flags, size} then the payload. */
    static byte[] message(int request, int flags, int size, byte[] payload) {
        return ByteBuffer.allocate(12 + payload.length).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(request).putInt(flags).putInt(size).put(payload).array();
    }

    /**
     * Sends {@code bytes} with {@code fds} attached to the first byte. Returns false when the
     * back-end has closed the connection; throws {@link TimeoutException} if it stops reading.
     */
    boolean send(byte[] bytes, int[] fds) throws TimeoutException {
        long deadline = System.nanoTime() + timeoutNanos;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(STATE);
            MemorySegment buf = arena.allocate(Math.max(1, bytes.length));
            MemorySegment.copy(bytes, 0, buf, JAVA_BYTE, 0, bytes.length);
            long done = 0;
            boolean first = true;
            while (done < bytes.length || first) {
                MemorySegment iov = arena.allocate(16, 8);
                iov.set(ADDRESS, 0, buf.asSlice(done));
                iov.set(JAVA_LONG, 8, bytes.length - done);
                MemorySegment msg = arena.allocate(56, 8);
                msg.set(ADDRESS, 16, iov);
                msg.set(JAVA_LONG, 24, 1);
                if (first && fds.length > 0) {
                    long len = 16 + 4L * fds.length;
                    MemorySegment control = arena.allocate((len + 7) & ~7L, 8);
                    control.set(JAVA_LONG, 0, len);
                    control.set(JAVA_INT, 8, SOL_SOCKET);
                    control.set(JAVA_INT, 12, SCM_RIGHTS);
                    for (int i = 0; i < fds.length; i++) control.set(JAVA_INT, 16 + 4L * i, fds[i]);
                    msg.set(ADDRESS, 32, control);
                    msg.set(JAVA_LONG, 40, control.byteSize());
                }
                long n = (long) SENDMSG.invokeExact(state, fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                    int e = errno(state);
                    if (e == EPIPE || e == ECONNRESET) return false;
                    if (e == EAGAIN) {
                        await(POLLOUT, deadline, "the back-end to read more of the message");
                        continue;
                    }
                    if (e != EINTR) throw new IllegalStateException("sendmsg: errno " + e);
                    continue;
                }
                done += n;
                first = false;
            }
            return true;
        } catch (TimeoutException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * The next reply, or null when the back-end closed the connection first. Throws
     * {@link TimeoutException} when nothing complete arrives within the timeout.
     */
    Reply reply(String what) throws TimeoutException {
        long deadline = System.nanoTime() + timeoutNanos;
        byte[] header = readFully(12, deadline, what);
        if (header == null) return null;
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        int size = h.getInt(8);
        if (size < 0 || size > (1 << 16)) throw new IllegalStateException(what + ": reply claims " + size + " payload bytes");
        byte[] payload = readFully(size, deadline, what);
        if (payload == null) return null;
        return new Reply(h.getInt(0), h.getInt(4), payload);
    }

    /** Waits for the back-end to close the connection (or to send something); true if it closed. */
    boolean closedByPeer(long millis) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(STATE);
            MemorySegment one = arena.allocate(1);
            long deadline = System.nanoTime() + millis * 1_000_000;
            while (true) {
                long n = (long) RECV.invokeExact(state, fd, one, 1L, MSG_DONTWAIT);
                if (n == 0) return true;
                if (n < 0) {
                    int e = errno(state);
                    if (e == ECONNRESET) return true;
                    if (e != EAGAIN && e != EINTR) return true;
                }
                if (n > 0) continue; // a reply nobody waits for any more
                try {
                    await(POLLIN, deadline, "the back-end to close");
                } catch (TimeoutException t) {
                    return false;
                }
            }
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    private byte[] readFully(int len, long deadline, String what) throws TimeoutException {
        byte[] out = new byte[len];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(STATE);
            MemorySegment buf = arena.allocate(Math.max(1, len));
            int got = 0;
            while (got < len) {
                long n = (long) RECV.invokeExact(state, fd, buf.asSlice(got), (long) (len - got), MSG_DONTWAIT);
                if (n == 0) return null;
                if (n < 0) {
                    int e = errno(state);
                    if (e == ECONNRESET) return null;
                    if (e == EAGAIN) {
                        await(POLLIN, deadline, what);
                        continue;
                    }
                    if (e != EINTR) throw new IllegalStateException("recv: errno " + e);
                    continue;
                }
                got += (int) n;
            }
            MemorySegment.copy(buf, JAVA_BYTE, 0, out, 0, len);
            return out;
        } catch (TimeoutException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private void await(int events, long deadline, String what) throws TimeoutException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(STATE);
            MemorySegment pfd = arena.allocate(8);
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(JAVA_SHORT, 4, (short) events);
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) throw new TimeoutException("no answer within " + timeoutNanos / 1_000_000 + " ms waiting for " + what);
                int n = (int) POLL.invokeExact(state, pfd, 1L, (int) Math.min(left, Integer.MAX_VALUE));
                if (n > 0) return;
                if (n < 0 && errno(state) != EINTR) throw new IllegalStateException("poll: errno " + errno(state));
            }
        } catch (TimeoutException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) CLOSE.invokeExact(arena.allocate(STATE), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}

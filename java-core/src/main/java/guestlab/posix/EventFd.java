package guestlab.posix;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An eventfd(2): the doorbell of lguest's LHREQ_EVENTFD and vhost-user's kick and call fds.
 * {@link #signal()} adds one; {@link #await()} blocks until the counter is non-zero and returns
 * and clears it. Closing is idempotent. Signalling and waiting allocate nothing (the counter
 * travels through the thread's {@link CallScratch}): a device thread does both per request.
 */
public final class EventFd implements AutoCloseable {
    private final int fd;
    private volatile boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
    }

    public static EventFd create() {
        return new EventFd(Libc.eventfd(0, Libc.EFD_CLOEXEC));
    }

    /** Takes ownership of an eventfd received from elsewhere (a vhost-user front-end's kick or call fd). */
    public static EventFd adopt(int fd) {
        return new EventFd(fd);
    }

    public int fd() {
        return fd;
    }

    /** Adds one. Refused once closed: the fd number may already belong to another file. */
    public void signal() {
        if (!trySignal()) throw new IllegalStateException("eventfd " + fd + " is closed");
    }

    /**
     * Adds one unless closed; false if closed. Never races {@link #close()}: a signal in progress
     * finishes before the fd is closed, so it cannot land in a file that reused the number.
     */
    public synchronized boolean trySignal() {
        if (closed) return false;
        signal(fd);
        return true;
    }

    /** Adds one to the eventfd {@code fd}, as the kernel does when an ioeventfd fires. */
    public static void signal(int fd) {
        MemorySegment one = CallScratch.mine().word;
        one.set(ValueLayout.JAVA_LONG, 0, 1L);
        Libc.write(fd, one, "eventfd write");
    }

    /**
     * Blocks until signalled; returns how many signals were folded into this wake-up. Works on
     * non-blocking eventfds too (QEMU creates its kick fds with EFD_NONBLOCK): it polls first.
     */
    public long await() {
        if (closed) throw new IllegalStateException("eventfd " + fd + " is closed");
        MemorySegment count = CallScratch.mine().word;
        while (true) {
            Libc.awaitReadable(fd);
            try {
                Libc.read(fd, count, "eventfd read");
                return count.get(ValueLayout.JAVA_LONG, 0);
            } catch (PosixException e) {
                if (e.errno() != Libc.EAGAIN) throw e; // another reader took it first: wait again
            }
        }
    }

    /**
     * Waits at most {@code timeoutMillis} for a signal; returns how many were folded into this
     * wake-up, or 0 if none came in time.
     */
    public long await(int timeoutMillis) {
        if (closed) throw new IllegalStateException("eventfd " + fd + " is closed");
        if (!Libc.awaitReadable(fd, timeoutMillis)) return 0;
        try {
            MemorySegment count = CallScratch.mine().word;
            Libc.read(fd, count, "eventfd read");
            return count.get(ValueLayout.JAVA_LONG, 0);
        } catch (PosixException e) {
            if (e.errno() != Libc.EAGAIN) throw e; // another reader took it first
            return 0;
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }
}

package guestlab.posix;

/** A libc call failed: carries the call's name and errno, and says both in its message. */
public final class PosixException extends RuntimeException {
    private final int errno;

    public PosixException(String call, int errno) {
        super(call + " failed: " + Libc.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}

package guestlab.memory;

/**
 * The host mapping behind a guest address faulted (SIGBUS: the file under it is shorter than the
 * mapping, e.g. a front-end truncated its memfd). The device that made the access is broken; the
 * process is not.
 */
public final class GuestMemoryFaultException extends GuestMemoryException {
    public GuestMemoryFaultException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A fault the JVM reported as an {@link InternalError} somewhere in a device's guest-memory access. */
    public static GuestMemoryFaultException of(InternalError e) {
        return new GuestMemoryFaultException("mapping fault in a guest memory access: the file behind guest memory "
                + "is shorter than its mapping (" + e.getMessage() + ")", e);
    }
}

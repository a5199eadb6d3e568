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
}

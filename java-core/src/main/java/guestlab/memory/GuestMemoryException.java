package guestlab.memory;

/**
 * A guest-physical access could not be made: it fell outside guest RAM, the memory is already
 * released, or the mapping behind it faulted. Nothing was read or written.
 */
public class GuestMemoryException extends RuntimeException {
    public GuestMemoryException(String message) {
        super(message);
    }

    public GuestMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}

package guestlab.memory;

/** A guest-physical access fell outside guest RAM; nothing was read or written. */
public final class GuestMemoryException extends RuntimeException {
    public GuestMemoryException(String message) {
        super(message);
    }
}

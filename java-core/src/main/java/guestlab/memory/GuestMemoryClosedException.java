package guestlab.memory;

/** The guest memory was released (its guest stopped, or its front-end went away) before this access. */
public final class GuestMemoryClosedException extends GuestMemoryException {
    public GuestMemoryClosedException(String message) {
        super(message);
    }
}

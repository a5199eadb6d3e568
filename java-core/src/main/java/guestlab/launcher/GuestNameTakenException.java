package guestlab.launcher;

/** A guest cannot start under a name another guest of the launcher holds; {@link #holder()} says how. */
public final class GuestNameTakenException extends IllegalArgumentException {
    /** What holds the name. */
    public enum Holder {
        STARTING("is starting"),
        RUNNING("is already running"),
        FAILED("has failed but is not stopped yet");

        private final String words;

        Holder(String words) {
            this.words = words;
        }
    }

    private final String guest;
    private final Holder holder;

    GuestNameTakenException(String guest, Holder holder) {
        super("a guest named " + guest + " " + holder.words);
        this.guest = guest;
        this.holder = holder;
    }

    public String guest() {
        return guest;
    }

    public Holder holder() {
        return holder;
    }
}

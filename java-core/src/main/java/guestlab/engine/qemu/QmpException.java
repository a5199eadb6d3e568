package guestlab.engine.qemu;

import java.io.IOException;

/** QMP answered a command with an error, or did not answer in time, or the connection closed. */
public final class QmpException extends IOException {
    private final String errorClass;

    public QmpException(String errorClass, String message) {
        super(message);
        this.errorClass = errorClass;
    }

    /** QMP's error class (e.g. "CommandNotFound", "GenericError"), or "Timeout" / "Closed" for guestlab's own. */
    public String errorClass() {
        return errorClass;
    }
}

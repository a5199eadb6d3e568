package guestlab.engine.qemu;

import java.io.IOException;

/**
 * A file could not be copied into or out of a guest ({@link GuestFiles}); the message is one line
 * naming the path at fault, and nothing was written under the destination's name.
 */
public final class FileTransferException extends IOException {
    FileTransferException(String message) {
        super(message);
    }

    FileTransferException(String message, Throwable cause) {
        super(message, cause);
    }
}

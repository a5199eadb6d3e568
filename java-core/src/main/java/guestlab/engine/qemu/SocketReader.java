package guestlab.engine.qemu;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/** Ends a unix-socket connection that a reader thread is serving: close, then let the thread finish. */
final class SocketReader {
    private SocketReader() {}

    static void closeAndJoin(SocketChannel channel, Thread reader) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing is best effort; the reader ends either way
        }
        try {
            reader.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

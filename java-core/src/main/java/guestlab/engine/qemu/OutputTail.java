package guestlab.engine.qemu;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Drains a process's output on a daemon thread, keeping only the last {@code keep} characters. */
final class OutputTail {
    private final StringBuilder buf = new StringBuilder();
    private final int keep;
    private final Thread thread;

    OutputTail(InputStream in, int keep, String threadName) {
        this.keep = keep;
        this.thread = Thread.ofPlatform().daemon().name(threadName).start(() -> drain(in));
    }

    /** Waits (at most {@code millis}) until the stream has ended, so the text is complete. */
    void awaitEnd(long millis) {
        try {
            thread.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    synchronized String text() {
        return buf.toString();
    }

    /** The last {@code n} lines. */
    String lastLines(int n) {
        return String.join("\n", SerialConsole.tailLines(text(), n));
    }

    private void drain(InputStream in) {
        byte[] b = new byte[4096];
        try (in) {
            int n;
            while ((n = in.read(b)) >= 0) {
                // QEMU's messages are ASCII; a UTF-8 sequence split between reads is not worth handling
                String s = new String(b, 0, n, StandardCharsets.UTF_8);
                synchronized (this) {
                    buf.append(s);
                    if (buf.length() > keep) buf.delete(0, buf.length() - keep);
                }
            }
        } catch (IOException ignored) {
            // the process is gone
        }
    }
}

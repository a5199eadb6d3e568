package guestlab.engine.qemu;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/** Captures what is printed on System.err while open, so a test can wait for a line and count lines. */
final class StderrCapture implements AutoCloseable {
    private final PrintStream original = System.err;
    private final StringBuilder text = new StringBuilder();

    StderrCapture() {
        System.setErr(new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                synchronized (text) {
                    text.append(new String(b, off, len, StandardCharsets.UTF_8));
                    text.notifyAll();
                }
            }
        }, true, StandardCharsets.UTF_8));
    }

    /** The whole lines printed so far that contain {@code fragment}. */
    List<String> lines(String fragment) {
        synchronized (text) {
            int end = text.lastIndexOf("\n");
            if (end < 0) return List.of();
            return text.substring(0, end).lines().filter(l -> l.contains(fragment)).toList();
        }
    }

    /** Waits until a whole line containing {@code fragment} has been printed; fails after {@code timeout}. */
    String awaitLine(String fragment, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (text) {
            while (lines(fragment).isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new AssertionError("no line with \"" + fragment + "\" on stderr within " + timeout + ": " + text);
                text.wait(Math.max(1, left / 1_000_000));
            }
            return lines(fragment).getFirst();
        }
    }

    @Override
    public void close() {
        System.setErr(original);
    }
}

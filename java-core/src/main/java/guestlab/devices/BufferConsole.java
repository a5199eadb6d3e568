package guestlab.devices;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A console host end kept in memory, for scripts and tests: send text to the guest, read what it
 * wrote, wait for a pattern with a timeout.
 */
public final class BufferConsole implements ConsoleHost {
    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private volatile Consumer<byte[]> toGuest;
    private int mark; // awaitText searches output from here (chars)

    @Override
    public void connect(Consumer<byte[]> toGuest) {
        this.toGuest = toGuest;
    }

    public void send(String text) {
        send(text.getBytes(StandardCharsets.UTF_8));
    }

    public void send(byte[] bytes) {
        Consumer<byte[]> sink = toGuest;
        if (sink == null) throw new IllegalStateException("console is not connected to a device");
        sink.accept(bytes.clone());
    }

    @Override
    public synchronized void fromGuest(byte[] bytes) {
        output.writeBytes(bytes);
        notifyAll();
    }

    /** Everything the guest has written so far. */
    public synchronized String text() {
        return output.toString(StandardCharsets.UTF_8);
    }

    /**
     * Waits until the guest's output since the last successful wait matches {@code pattern};
     * returns the matched text. On timeout, throws with the last lines of output in the message.
     */
    public synchronized String awaitText(Pattern pattern, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String all = text();
            Matcher m = pattern.matcher(all);
            if (m.find(Math.min(mark, all.length()))) {
                mark = m.end();
                return m.group();
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new ConsoleTimeoutException("no match for /" + pattern + "/ within " + timeout
                        + "; last console output:\n" + lastLines(all, 20));
            }
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ConsoleTimeoutException("interrupted waiting for /" + pattern + "/");
            }
        }
    }

    static String lastLines(String text, int n) {
        String[] lines = text.split("\n", -1);
        int from = Math.max(0, lines.length - n);
        return String.join("\n", java.util.Arrays.copyOfRange(lines, from, lines.length));
    }

    /** awaitText ran out of time. */
    public static final class ConsoleTimeoutException extends RuntimeException {
        public ConsoleTimeoutException(String message) {
            super(message);
        }
    }
}

package guestlab.engine.qemu;

import guestlab.events.GuardedListener;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The guest's serial console over QEMU's unix socket chardev. A reader thread appends everything
 * the guest prints to a buffer (the last {@link #DEFAULT_KEEP} characters are kept) and mirrors it
 * to an optional sink (a sink that throws is counted by {@link #sinkFailures}, its first failure
 * printed once on stderr, and it keeps getting output). {@link #expect} waits for a pattern after the previous match; {@link #run}
 * runs one shell command and returns its output and exit status.
 */
public final class SerialConsole implements AutoCloseable {
    public static final int DEFAULT_KEEP = 1 << 20;

    /** What a shell command printed (CR LF turned into LF) and its exit status. */
    public record Result(String output, int exitCode) {}

    private final Path socket;
    private final SocketChannel channel;
    private final GuardedListener<String> sink; // or null
    private final int keep;
    private final Object lock = new Object();
    private final StringBuilder buf = new StringBuilder();
    private long dropped;            // characters trimmed from the front of buf, ever
    private long mark;               // absolute position after the last expect match
    private String closedBecause;    // set once the reader stops
    private final Thread reader;
    private final AtomicLong runs = new AtomicLong();
    private final String nonce = Long.toString(ThreadLocalRandom.current().nextLong(1L << 40), 36);

    private SerialConsole(Path socket, SocketChannel channel, Consumer<String> sink, int keep) {
        this.socket = socket;
        this.channel = channel;
        this.sink = sink == null ? null : new GuardedListener<>(sink);
        this.keep = keep;
        this.reader = Thread.ofPlatform().daemon().name("guestlab-serial-reader").unstarted(this::readLoop);
    }

    /** Connects to the serial socket; {@code sink} (may be null) sees every chunk of output as it arrives. */
    public static SerialConsole connect(Path socket, Consumer<String> sink) throws IOException {
        return connect(socket, sink, DEFAULT_KEEP);
    }

    public static SerialConsole connect(Path socket, Consumer<String> sink, int keepChars) throws IOException {
        SerialConsole c = new SerialConsole(socket, SocketChannel.open(UnixDomainSocketAddress.of(socket)), sink, keepChars);
        c.reader.start();
        return c;
    }

    /**
     * Waits until {@code pattern} matches output that came after the previous match, and moves the
     * mark past this one. On timeout (or if the console closes) throws with the last 20 lines.
     */
    public MatchResult expect(Pattern pattern, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (true) {
                int from = (int) Math.max(0, mark - dropped);
                Matcher m = pattern.matcher(buf).region(from, buf.length());
                if (m.find()) {
                    mark = dropped + m.end();
                    return m.toMatchResult();
                }
                if (closedBecause != null) {
                    throw new ConsoleException("console closed (" + closedBecause + ") before /" + pattern + "/ appeared", tail(20));
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new ConsoleException("/" + pattern + "/ did not appear on the console within " + timeout.toMillis() + " ms", tail(20));
                }
                try {
                    lock.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ConsoleException("interrupted waiting for /" + pattern + "/", tail(20));
                }
            }
        }
    }

    /** Waits for the literal text. */
    public MatchResult expect(String literal, Duration timeout) throws IOException {
        return expect(Pattern.compile(Pattern.quote(literal)), timeout);
    }

    /** Types one line (a newline is added). */
    public void sendLine(String line) throws IOException {
        send(line + "\n");
    }

    /** Types raw text. */
    public void send(String text) throws IOException {
        send(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Types raw bytes (a terminal's keystrokes). */
    public void send(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) channel.write(b);
    }

    /**
     * Runs {@code command} in the guest's shell and returns its output and exit status. The command
     * is framed by markers the shell prints with printf, split in the typed text so that the
     * terminal's echo of the line never contains them. It is typed as one line (text typed while a
     * command runs would be echoed into its output), in the shell itself (a {@code cd} stays), so
     * it must be one complete command list without a trailing {@code #} comment or {@code &}, and
     * must not read the console's input.
     */
    public Result run(String command, Duration timeout) throws IOException {
        String id = nonce + "_" + runs.incrementAndGet();
        String begin = "__GL_BEGIN_" + id, end = "__GL_END_" + id;
        // Typed:   printf '%s%s\n' __GL_ BEGIN_<id>; CMD; printf '\n%s%s=%d\n' __GL_ END_<id> $?
        // Printed: __GL_BEGIN_<id> LF, the output, LF __GL_END_<id>=<status> LF
        sendLine("printf '%s%s\\n' __GL_ BEGIN_" + id + "; " + command + "; printf '\\n%s%s=%d\\n' __GL_ END_" + id + " $?");
        long deadline = System.nanoTime() + timeout.toNanos();
        expect(Pattern.compile(Pattern.quote(begin) + "\r?\n"), timeout);
        long outStart;
        synchronized (lock) {
            outStart = mark;
        }
        Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
        MatchResult m = expect(Pattern.compile("\r?\n" + Pattern.quote(end) + "=(\\d+)\r?\n"), left);
        String output;
        synchronized (lock) {
            long endAbs = mark - (m.end() - m.start());
            if (outStart < dropped) throw new ConsoleException("the output of `" + command + "` was longer than the console buffer", tail(20));
            output = buf.substring((int) (outStart - dropped), (int) (endAbs - dropped));
        }
        int status;
        try {
            status = Integer.parseInt(m.group(1));
        } catch (NumberFormatException e) {
            throw new ConsoleException("`" + command + "` ended with exit status " + m.group(1) + ", which no shell gives", tail(20));
        }
        return new Result(output.replace("\r\n", "\n"), status);
    }

    /** The last {@code n} lines of output (CR removed). */
    public List<String> lastLines(int n) {
        synchronized (lock) {
            return tailLines(buf, n);
        }
    }

    /** Everything still in the buffer. */
    public String text() {
        synchronized (lock) {
            return buf.toString();
        }
    }

    /** How many chunks of output the sink has thrown on. */
    public long sinkFailures() {
        return sink == null ? 0 : sink.failures();
    }

    public boolean isOpen() {
        synchronized (lock) {
            return closedBecause == null;
        }
    }

    @Override
    public void close() {
        SocketReader.closeAndJoin(channel, reader);
    }

    private String tail(int n) {
        return String.join("\n", tailLines(buf, n));
    }

    static List<String> tailLines(CharSequence text, int n) {
        String s = text.toString().replace("\r", "");
        if (s.endsWith("\n")) s = s.substring(0, s.length() - 1);
        if (s.isEmpty()) return List.of();
        List<String> lines = List.of(s.split("\n", -1));
        return lines.subList(Math.max(0, lines.size() - n), lines.size());
    }

    private void readLoop() {
        ByteBuffer in = ByteBuffer.allocate(8192);
        CharBuffer out = CharBuffer.allocate(8192);
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        String why = "end of stream";
        try {
            while (channel.read(in) >= 0) {
                in.flip();
                dec.decode(in, out.clear(), false); // an incomplete UTF-8 sequence stays in `in`
                in.compact();
                out.flip();
                if (!out.hasRemaining()) continue;
                String chunk = out.toString();
                append(chunk);
                Throwable first = sink == null ? null : sink.deliver(chunk);
                if (first != null) {
                    System.err.println("guestlab: the serial console sink on " + socket + " threw " + first
                            + "; it keeps getting output, and its later failures are only counted");
                }
            }
        } catch (IOException e) {
            why = channel.isOpen() ? e.toString() : "closed by guestlab";
        } finally {
            synchronized (lock) {
                closedBecause = why;
                lock.notifyAll();
            }
        }
    }

    private void append(String chunk) {
        synchronized (lock) {
            buf.append(chunk);
            int over = buf.length() - keep;
            if (over > 0) {
                buf.delete(0, over);
                dropped += over;
            }
            lock.notifyAll();
        }
    }

    /** A console wait failed; the message ends with the console's last lines. */
    public static final class ConsoleException extends IOException {
        private final String consoleTail;

        ConsoleException(String message, String consoleTail) {
            super(message + "\n--- last console lines ---\n" + consoleTail);
            this.consoleTail = consoleTail;
        }

        public String consoleTail() {
            return consoleTail;
        }
    }
}

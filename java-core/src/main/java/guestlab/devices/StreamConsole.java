package guestlab.devices;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.function.Consumer;

/** A console host end over streams: the terminal (stdio) or any pair of streams. */
public final class StreamConsole implements ConsoleHost {
    private final InputStream in;
    private final OutputStream out;
    private final boolean closeStreams;
    private Thread reader;
    private volatile boolean closed;

    public StreamConsole(InputStream in, OutputStream out) {
        this(in, out, true);
    }

    private StreamConsole(InputStream in, OutputStream out, boolean closeStreams) {
        this.in = in;
        this.out = out;
        this.closeStreams = closeStreams;
    }

    /** The process's own terminal; stdin and stdout are left open at close. */
    public static StreamConsole stdio() {
        return new StreamConsole(System.in, System.out, false);
    }

    @Override
    public synchronized void connect(Consumer<byte[]> toGuest) {
        if (reader != null) throw new IllegalStateException("console already connected");
        reader = Thread.ofPlatform().daemon().name("guestlab-console-input").start(() -> {
            byte[] buf = new byte[4096];
            try {
                int n;
                while (!closed && (n = in.read(buf)) > 0) toGuest.accept(Arrays.copyOf(buf, n));
            } catch (IOException e) {
                if (!closed) throw new UncheckedIOException(e);
            }
        });
    }

    @Override
    public void fromGuest(byte[] bytes) {
        try {
            out.write(bytes);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("console output: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        closed = true;
        if (closeStreams) {
            try {
                in.close();
                out.close();
            } catch (IOException ignored) {
                // Closing is best effort: the reader thread ends either way.
            }
        }
    }
}

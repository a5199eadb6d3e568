package guestlab.engine.qemu;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A QEMU that says whatever a fuzzer wants, on a unix socket, to one connection after another:
 * for each connection it writes a script's first part at once; if the script says a line will be
 * typed, it waits for the client's first line (at most {@value #LINE_WAIT_MILLIS} ms) and writes
 * the second part with {@code \u0001B} and {@code \u0001E} replaced by the run markers named in
 * that line (so a fuzzer can answer {@link SerialConsole#run} without knowing its random nonce),
 * else the second part follows the first at once. Then it ends its output (shutdown for writing)
 * unless told to keep the connection open, and reads what the client sends until the client
 * closes. Its thread is not named guestlab-..., so thread censuses count only the client's threads.
 */
final class HostilePeer implements AutoCloseable {
    /** What to say on the next connection. */
    record Script(byte[] first, byte[] afterLine, boolean lineFirst, boolean keepOpen) {}

    private static final Pattern MARKER_ID = Pattern.compile("BEGIN_(\\S+?);");
    private static final long LINE_WAIT_MILLIS = 1000;

    final Path dir;
    final Path path;
    private final ServerSocketChannel server;
    private final Selector selector;
    private final BlockingQueue<Script> scripts = new LinkedBlockingQueue<>();
    private final Semaphore served = new Semaphore(0);
    private final Thread thread;
    private volatile boolean closing;

    HostilePeer(String name) {
        try {
            dir = Files.createTempDirectory("guestlab-fuzz-" + name);
            path = dir.resolve("peer.sock");
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path));
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        thread = Thread.ofPlatform().daemon().name("fuzz-hostile-qemu-" + name).start(this::serve);
    }

    /** The script for the next client that connects. */
    void next(Script s) {
        scripts.add(s);
    }

    /**
     * Waits until the peer is done with the connection the last script was for (the client has
     * closed it): then what the peer held for it is released, and the next script is the next
     * connection's.
     */
    void awaitServed(long millis) throws InterruptedException {
        if (!served.tryAcquire(millis, TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the hostile peer is still serving a connection the client closed " + millis + " ms ago");
        }
    }

    private void serve() {
        while (!closing) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                return; // closing
            }
            try (ch) {
                Script s = scripts.poll(5, TimeUnit.SECONDS);
                if (s == null) continue;
                write(ch, s.first());
                if (s.afterLine().length > 0) write(ch, substitute(s.afterLine(), s.lineFirst() ? firstLine(ch) : ""));
                if (!s.keepOpen()) ch.shutdownOutput();
                drain(ch);
            } catch (IOException e) {
                // the client went away mid-script
            } catch (InterruptedException e) {
                return;
            } finally {
                served.release();
            }
        }
    }

    private static void write(SocketChannel ch, byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) ch.write(b);
    }

    /** The first line the client sends, waiting at most {@value #LINE_WAIT_MILLIS} ms; "" if none came. */
    private String firstLine(SocketChannel ch) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ch.configureBlocking(false);
        SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
        try {
            long deadline = System.nanoTime() + LINE_WAIT_MILLIS * 1_000_000;
            ByteBuffer one = ByteBuffer.allocate(1);
            while (true) {
                int n = ch.read(one.clear());
                if (n < 0) break;
                if (n == 1) {
                    if (one.get(0) == '\n') break;
                    line.write(one.get(0));
                    continue;
                }
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) break;
                selector.select(left);
                selector.selectedKeys().clear();
            }
        } finally {
            key.cancel();
            selector.selectNow();
            ch.configureBlocking(true);
        }
        return line.toString(StandardCharsets.UTF_8);
    }

    static byte[] substitute(byte[] text, String typedLine) {
        Matcher m = MARKER_ID.matcher(typedLine);
        String id = m.find() ? m.group(1) : "none";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < text.length; i++) {
            if (text[i] == 1 && i + 1 < text.length && (text[i + 1] == 'B' || text[i + 1] == 'E')) {
                out.writeBytes(((text[i + 1] == 'B' ? "__GL_BEGIN_" : "__GL_END_") + id).getBytes(StandardCharsets.UTF_8));
                i++;
            } else {
                out.write(text[i]);
            }
        }
        return out.toByteArray();
    }

    private static void drain(SocketChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096);
        while (ch.read(b.clear()) >= 0) {
            // what the client typed or asked: nobody answers any more
        }
    }

    @Override
    public void close() {
        closing = true;
        try {
            server.close();
            selector.close();
        } catch (IOException ignored) {
            // best effort
        }
        try {
            thread.join(2000);
            Files.deleteIfExists(path);
            Files.deleteIfExists(dir);
        } catch (InterruptedException | IOException ignored) {
            // a temp dir left behind is harmless
        }
    }
}

package guestlab.engine.qemu;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import guestlab.events.GuardedListener;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * A QEMU Machine Protocol client over a unix socket. A reader thread splits the stream into JSON
 * lines: replies go to the command waiting for them (matched by id), asynchronous events
 * ({@code "event"} lines) to the listeners and a short history. Every wait has a timeout. A
 * listener that throws keeps getting events; its failures are counted ({@link #listenerFailures})
 * and the first one of each listener is printed once on stderr.
 */
public final class QmpClient implements AutoCloseable {
    /** One asynchronous QMP event, e.g. STOP, RESUME, SHUTDOWN. */
    public record Event(String name, Map<String, Object> data, Instant timestamp) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};
    private static final int EVENT_HISTORY = 256;
    /** What the reader thread queues: a reply, or the reason the connection ended. */
    private record Incoming(JsonNode reply, String closedBecause) {}

    private final Path socket;
    private final SocketChannel channel;
    private final Duration timeout;
    private final BlockingQueue<Incoming> replies = new LinkedBlockingQueue<>();
    private final List<GuardedListener<Event>> listeners = new CopyOnWriteArrayList<>();
    private final ArrayDeque<Event> history = new ArrayDeque<>();
    /** One-shot waits for an event: {@link #nextEvent}. */
    private record Waiter(String name, Predicate<Map<String, Object>> match, CompletableFuture<Event> event) {}
    private final List<Waiter> waiters = new CopyOnWriteArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final Thread reader;
    private volatile boolean closed;

    private QmpClient(Path socket, SocketChannel channel, Duration timeout) {
        this.socket = socket;
        this.channel = channel;
        this.timeout = timeout;
        this.reader = Thread.ofPlatform().daemon().name("guestlab-qmp-reader").unstarted(this::readLoop);
    }

    /** Connects, reads the greeting and negotiates capabilities; {@code timeout} bounds every later wait. */
    public static QmpClient connect(Path socket, Duration timeout) throws IOException {
        SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        QmpClient c = new QmpClient(socket, ch, timeout);
        try {
            c.reader.start();
            JsonNode greeting = c.next("the QMP greeting");
            if (!greeting.has("QMP")) throw new QmpException("Protocol", "expected the QMP greeting, got " + greeting);
            c.execute("qmp_capabilities", Map.of());
            return c;
        } catch (IOException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    public void addListener(Consumer<Event> listener) {
        listeners.add(new GuardedListener<>(listener));
    }

    /**
     * The next event named {@code name} whose data {@code match}es, from now on (call it before the
     * command that causes the event). The caller bounds the wait; cancelling the future stops watching.
     */
    public CompletableFuture<Event> nextEvent(String name, Predicate<Map<String, Object>> match) {
        Waiter w = new Waiter(name, match, new CompletableFuture<>());
        waiters.add(w);
        w.event().whenComplete((ev, e) -> waiters.remove(w));
        return w.event();
    }

    /** How many times listeners have thrown, all told. */
    public long listenerFailures() {
        return listeners.stream().mapToLong(GuardedListener::failures).sum();
    }

    /** The most recent events (up to 256), oldest first. */
    public List<Event> events() {
        synchronized (history) {
            return List.copyOf(history);
        }
    }

    /**
     * Runs one QMP command and returns its "return" value as plain Java data (Map, List, String,
     * Number, Boolean, or null); throws {@link QmpException} with QMP's error class and description.
     */
    public synchronized Object execute(String command, Map<String, ?> args) throws IOException {
        long id = ids.incrementAndGet();
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("execute", command);
        if (args != null && !args.isEmpty()) msg.put("arguments", args);
        msg.put("id", id);
        send(msg);
        while (true) {
            JsonNode reply = next("the reply to " + command);
            JsonNode replyId = reply.get("id");
            if (replyId == null || replyId.asLong() != id) continue; // a late reply to a command that timed out
            if (reply.has("error")) {
                JsonNode err = reply.get("error");
                throw new QmpException(err.path("class").asText("Unknown"),
                        "QMP " + command + " failed: " + err.path("class").asText() + ": " + err.path("desc").asText());
            }
            return JSON.convertValue(reply.get("return"), Object.class);
        }
    }

    public Object execute(String command) throws IOException {
        return execute(command, Map.of());
    }

    /** "running", "paused", "prelaunch", "shutdown", ... from query-status. */
    public String status() throws IOException {
        Object r = execute("query-status");
        if (r instanceof Map<?, ?> m && m.get("status") instanceof String s) return s;
        throw new QmpException("Protocol", "QMP query-status returned " + JSON.writeValueAsString(r)
                + ", not {\"status\": ...}");
    }

    /** Pauses the guest's vCPUs. */
    public void stop() throws IOException {
        execute("stop");
    }

    /** Resumes the guest's vCPUs. */
    public void cont() throws IOException {
        execute("cont");
    }

    /** Asks QEMU to exit; a connection that closes before the reply counts as success. */
    public void quit() throws IOException {
        try {
            execute("quit");
        } catch (QmpException e) {
            if (!"Closed".equals(e.errorClass())) throw e;
        }
    }

    public boolean isOpen() {
        return !closed && channel.isOpen();
    }

    @Override
    public void close() {
        closed = true;
        SocketReader.closeAndJoin(channel, reader);
    }

    private void send(Map<String, Object> msg) throws IOException {
        byte[] line = (JSON.writeValueAsString(msg) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.wrap(line);
        try {
            while (buf.hasRemaining()) channel.write(buf);
        } catch (IOException e) {
            throw new QmpException("Closed", "QMP connection closed while sending " + msg.get("execute") + ": " + e.getMessage());
        }
    }

    /** The next reply, waiting at most the timeout. */
    private JsonNode next(String what) throws QmpException {
        Incoming in;
        try {
            in = replies.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QmpException("Interrupted", "interrupted waiting for " + what);
        }
        if (in == null) throw new QmpException("Timeout", "no " + what + " from QMP within " + timeout.toMillis() + " ms");
        if (in.reply() == null) {
            replies.offer(in); // stay closed for every later caller too
            throw new QmpException("Closed", "QMP connection closed (" + in.closedBecause() + ") waiting for " + what);
        }
        return in.reply();
    }

    private void readLoop() {
        ByteBuffer buf = ByteBuffer.allocate(8192);
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        String why = "end of stream";
        try {
            while (channel.read(buf.clear()) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    byte b = buf.get();
                    if (b != '\n') {
                        line.write(b);
                        continue;
                    }
                    try {
                        dispatch(line.toByteArray());
                    } catch (RuntimeException e) {
                        // a message no QEMU sends; the reader lives on for the next one
                    }
                    line.reset();
                }
            }
        } catch (IOException e) {
            why = closed ? "closed by guestlab" : e.toString();
        } finally {
            replies.offer(new Incoming(null, why));
        }
    }

    /** The event's time, or now if QEMU's timestamp is missing or not a time. */
    private static Instant timestamp(JsonNode ts) {
        try {
            long seconds = ts.path("seconds").asLong(), micros = ts.path("microseconds").asLong();
            if (ts.isObject() && micros >= 0 && micros < 1_000_000) return Instant.ofEpochSecond(seconds, micros * 1000);
        } catch (java.time.DateTimeException e) {
            // past Instant's range
        }
        return Instant.now();
    }

    private void dispatch(byte[] bytes) {
        JsonNode node;
        try {
            node = JSON.readTree(bytes);
        } catch (IOException e) {
            return; // not JSON: QMP never sends that; ignore rather than kill the reader
        }
        if (node == null || !node.isObject()) return;
        if (!node.has("event")) {
            replies.offer(new Incoming(node, null));
            return;
        }
        // QMP's events carry an object "data" and a {seconds, microseconds} "timestamp"; anything
        // else from a broken QEMU still makes an event, never a dead reader thread.
        Map<String, Object> data = node.path("data").isObject() ? JSON.convertValue(node.get("data"), MAP) : Map.of();
        Event ev = new Event(node.get("event").asText(), data, timestamp(node.path("timestamp")));
        synchronized (history) {
            if (history.size() == EVENT_HISTORY) history.removeFirst();
            history.addLast(ev);
        }
        for (Waiter w : waiters) {
            try {
                if (w.name().equals(ev.name()) && w.match().test(data)) w.event().complete(ev);
            } catch (RuntimeException e) {
                w.event().completeExceptionally(e);
            }
        }
        for (GuardedListener<Event> l : listeners) {
            Throwable first = l.deliver(ev);
            if (first != null) {
                System.err.println("guestlab: a QMP event listener on " + socket + " threw " + first + " on " + ev.name()
                        + "; it keeps getting events, and its later failures are only counted");
            }
        }
    }
}

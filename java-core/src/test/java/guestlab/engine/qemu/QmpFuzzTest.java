package guestlab.engine.qemu;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import guestlab.fuzz.ByteCursor;
import guestlab.fuzz.ProcessCensus;
import guestlab.fuzz.SeedFiles;
import guestlab.fuzz.UncaughtExceptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

import static guestlab.engine.qemu.FuzzCalls.failure;
import static guestlab.engine.qemu.FuzzCalls.within;
import java.util.Map;

/**
 * Fuzzes {@link QmpClient} against a hostile QEMU: the fuzzer's bytes are everything QEMU says
 * on the QMP socket (greeting, replies, events, garbage), and a short script of client calls
 * (connect, status, stop, cont, quit, a command of the fuzzer's naming, event listeners) runs
 * against them.
 *
 * <p>The input: flag bits (bit 0: QEMU keeps the connection open after speaking, so waits end by
 * the client's timeout rather than by end of stream), the number of calls and the calls, then
 * what QEMU says.
 *
 * <p>Invariants: every call returns or throws {@link QmpException} (no ClassCastException,
 * NullPointerException, ... from a reply of the wrong shape), and returns within the client's
 * timeout plus a second; the reader thread never dies of an exception; the event history stays
 * within its bound; after close no QMP reader thread is left.
 */
@Timeout(20)
class QmpFuzzTest {
    static final Duration TIMEOUT = Duration.ofMillis(1000), KEEP_OPEN_TIMEOUT = Duration.ofMillis(5);
    static final int STATUS = 0, STOP = 1, CONT = 2, QUIT = 3, EXECUTE = 4, EVENTS = 5, LISTENER = 6, IS_OPEN = 7, CALLS = 8;

    private static HostilePeer peer;
    private static ProcessCensus.Baseline census;
    /** The peer is (or may still be) serving a connection an input made: an input that failed did not wait for it. */
    private static boolean owed;

    /** QMP's keys and shapes (no LF: Jazzer 0.30.0 would write it into the dictionary file unescaped). */
    @DictionaryEntries({"{\"QMP\": {}}", "\"return\": ", "\"error\": ", "\"class\": ", "\"desc\": ", "\"event\": ",
            "\"data\": ", "\"timestamp\": ", "\"seconds\": ", "\"microseconds\": ", "\"id\": ", "\"status\": ", "null", "[]", "{}"})
    @FuzzTest(maxDuration = "10m")
    void qmpReplies(byte[] input) throws Exception {
        if (peer == null) {
            UncaughtExceptions.install();
            peer = new HostilePeer("qmp");
            census = new ProcessCensus.Baseline(ProcessCensus::deviceKind);
        }
        if (owed) {
            owed = false;
            try {
                peer.awaitServed(2000);
            } catch (AssertionError stuck) {
                // reported by the input that left it; this one starts clean
            }
        }
        UncaughtExceptions.drain();
        ByteCursor c = new ByteCursor(input);
        boolean keepOpen = (c.u8() & 1) != 0;
        Duration timeout = keepOpen ? KEEP_OPEN_TIMEOUT : TIMEOUT;
        int n = c.u8() % 9;
        List<Integer> calls = new ArrayList<>();
        List<byte[]> names = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int call = c.u8() % CALLS;
            calls.add(call);
            names.add(call == EXECUTE ? c.lengthPrefixed(24) : new byte[0]);
        }
        byte[] says = c.bytes(c.remaining());
        peer.next(new HostilePeer.Script(says, new byte[0], false, keepOpen));
        owed = true;
        List<String> log = new ArrayList<>();

        QmpClient qmp = null;
        long t0 = System.nanoTime();
        try {
            qmp = QmpClient.connect(peer.path, timeout);
            log.add("connected");
        } catch (QmpException e) {
            log.add("connect: " + e.errorClass());
        } catch (Throwable t) {
            throw failure("connect threw " + t, t, log);
        }
        within(t0, timeout, "connect", log);
        if (qmp != null) {
            try {
                for (int i = 0; i < calls.size(); i++) call(qmp, calls.get(i), names.get(i), timeout, log);
                if (qmp.events().size() > 256) throw failure("an event history of " + qmp.events().size(), null, log);
            } finally {
                qmp.close();
            }
        }
        owed = false;
        peer.awaitServed(2000);
        String grew = census.check(2000);
        if (grew != null) throw failure("left after close: " + grew, null, log);
        List<String> deaths = UncaughtExceptions.drain();
        if (!deaths.isEmpty()) throw failure(deaths.getFirst(), null, log);
    }

    private static void call(QmpClient qmp, int call, byte[] name, Duration timeout, List<String> log) {
        long t0 = System.nanoTime();
        String what = List.of("status", "stop", "cont", "quit", "execute", "events", "listener", "isOpen").get(call);
        try {
            switch (call) {
                case STATUS -> log.add("status = " + qmp.status());
                case STOP -> qmp.stop();
                case CONT -> qmp.cont();
                case QUIT -> qmp.quit();
                case EXECUTE -> {
                    what = "execute " + new String(name, StandardCharsets.UTF_8);
                    log.add("-> " + qmp.execute(new String(name, StandardCharsets.UTF_8), Map.of("id", name.length)));
                }
                case EVENTS -> qmp.events();
                case LISTENER -> qmp.addListener(e -> {
                    throw new IllegalStateException("a listener that fails on " + e.name());
                });
                default -> qmp.isOpen();
            }
            log.add(what);
        } catch (QmpException e) {
            log.add(what + ": " + e.errorClass());
        } catch (Throwable t) {
            throw failure(what + " threw " + t, t, log);
        }
        within(t0, timeout, what, log);
    }

    @AfterAll
    static void closePeer() {
        if (peer != null) peer.close();
        peer = null;
    }

    // --- seeds ----------------------------------------------------------------------------------

    /** Writes the seed corpus: {@code java -cp TEST_CLASSPATH guestlab.engine.qemu.QmpFuzzTest java-core/src/test/resources} */
    public static void main(String[] args) throws Exception {
        SeedFiles.write(Path.of(args[0]), QmpFuzzTest.class, "qmpReplies", seeds());
    }

    static byte[] input(int flags, int[] calls, String says) {
        ByteCursor.Writer w = new ByteCursor.Writer().u8(flags).u8(calls.length);
        for (int call : calls) {
            w.u8(call);
            if (call == EXECUTE) w.lengthPrefixed("query-block".getBytes(StandardCharsets.UTF_8));
        }
        return w.bytes(says.getBytes(StandardCharsets.UTF_8)).toByteArray();
    }

    static String reply(int id, String ret) {
        return "{\"return\": " + ret + ", \"id\": " + id + "}\n";
    }

    static Map<String, byte[]> seeds() {
        String greeting = QmpClientTest.GREETING;
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("session", input(0, new int[] {LISTENER, STOP, STATUS, CONT, EXECUTE, EVENTS, QUIT},
                greeting + reply(1, "{}")
                        + "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, \"event\": \"STOP\"}\n"
                        + reply(2, "{}") + reply(3, "{\"status\": \"paused\", \"running\": false}")
                        + "{\"event\": \"RESUME\", \"data\": {\"reason\": \"x\"}}\n" + reply(4, "{}")
                        + reply(5, "[{\"device\": \"d\", \"inserted\": {\"file\": \"x\"}}]") + reply(6, "{}")));
        s.put("errors-and-stale-ids", input(0, new int[] {STATUS, EXECUTE, STOP},
                greeting + reply(1, "{}") + reply(99, "{}")
                        + "{\"id\": 2, \"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n"
                        + "{\"id\": 3, \"error\": {}}\n" + "{\"id\": 4, \"error\": \"text\"}\n"));
        s.put("garbage-lines", input(0, new int[] {STATUS, STATUS},
                greeting + "not json\n[1,2]\n\n{\"QMP\": 1}\n" + reply(1, "{}") + "{\"id\": \"2\", \"return\": {\"status\": 7}}\n"
                        + "{\"return\": {\"status\": \"running\"}, \"id\": 3}"));
        s.put("no-greeting", input(0, new int[] {STATUS}, "{\"hello\": 1}\n"));
        s.put("silent-qemu-keeps-connection", input(1, new int[] {STATUS, EVENTS}, greeting + reply(1, "{}")));
        s.put("events-storm", input(0, new int[] {EVENTS, LISTENER, QUIT},
                greeting + reply(1, "{}") + "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true}}\n".repeat(300)));
        return s;
    }
}

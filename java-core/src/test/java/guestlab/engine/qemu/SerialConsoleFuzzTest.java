package guestlab.engine.qemu;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import guestlab.fuzz.ByteCursor;
import guestlab.fuzz.ProcessCensus;
import guestlab.fuzz.SeedFiles;
import guestlab.fuzz.UncaughtExceptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

import static guestlab.engine.qemu.FuzzCalls.failure;
import static guestlab.engine.qemu.FuzzCalls.within;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Fuzzes {@link SerialConsole} against a hostile guest serial line: the fuzzer's bytes are what
 * the guest prints, before and after the first line the console types (where {@code \u0001B} and
 * {@code \u0001E} become the run markers, see {@link HostilePeer}), and a short script of console
 * calls runs against them: run, expect (literal or one of a few patterns), lastLines, text, typing.
 *
 * <p>The input: flag bits (bit 0: the guest keeps the line open, so waits end by timeout; bit 1: a
 * sink that throws), the buffer size to keep, the calls (a run among them goes first), then
 * u16-prefixed output before the typed line and the output after it.
 *
 * <p>Invariants: run and expect return or throw {@link SerialConsole.ConsoleException} (no
 * NumberFormatException, StringIndexOutOfBoundsException, ... from odd output), within their
 * timeout plus a second; typing fails only with IOException; the reader thread never dies of an
 * exception; the buffer never holds more than it was told to keep; after close no reader thread
 * is left.
 */
@Timeout(20)
class SerialConsoleFuzzTest {
    static final Duration TIMEOUT = Duration.ofMillis(1000), KEEP_OPEN_TIMEOUT = Duration.ofMillis(5);
    static final int RUN = 0, EXPECT_LITERAL = 1, EXPECT_PATTERN = 2, LAST_LINES = 3, TEXT = 4, TYPE = 5, CALLS = 6;
    static final Pattern[] PATTERNS = {Pattern.compile("login: "), Pattern.compile("(?m)^/ # "),
            Pattern.compile("Linux version (\\S+)"), Pattern.compile("\\r?\\n"), Pattern.compile("(?s)panic.*$")};

    private static HostilePeer peer;
    private static ProcessCensus.Baseline census;
    /** The peer is (or may still be) serving a connection an input made: an input that failed did not wait for it. */
    private static boolean owed;

    /**
     * The run markers (as the peer substitutes them), a shell prompt, long digit runs. No CR or LF:
     * Jazzer 0.30.0 writes whitespace into the dictionary file unescaped, and libFuzzer then
     * refuses the file and does not fuzz.
     */
    @DictionaryEntries({"\u0001B", "\u0001E=", "/ # ", "__GL_", "4294967296", "login: ", "Linux version "})
    @FuzzTest(maxDuration = "10m")
    void guestOutput(byte[] input) throws Exception {
        if (peer == null) {
            UncaughtExceptions.install();
            peer = new HostilePeer("serial");
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
        int flags = c.u8();
        boolean keepOpen = (flags & 1) != 0;
        Duration timeout = keepOpen ? KEEP_OPEN_TIMEOUT : TIMEOUT;
        int keep = 16 + c.u16() % 4096;
        int n = c.u8() % 7;
        List<int[]> calls = new ArrayList<>();
        List<byte[]> args = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int call = c.u8() % CALLS;
            calls.add(new int[] {call, c.u8()});
            args.add(call == EXPECT_LITERAL ? c.lengthPrefixed(24) : new byte[0]);
        }
        byte[] before = c.lengthPrefixed(1 << 16);
        byte[] after = c.bytes(c.remaining());
        // The guest answers the first command typed: that run comes first, so no call waits on an
        // answer the guest is holding back until something is typed.
        int firstRun = calls.stream().map(x -> x[0]).toList().indexOf(RUN);
        if (firstRun > 0) {
            calls.addFirst(calls.remove(firstRun));
            args.addFirst(args.remove(firstRun));
        }
        peer.next(new HostilePeer.Script(before, after, firstRun >= 0, keepOpen));
        owed = true;
        List<String> log = new ArrayList<>();

        SerialConsole con = SerialConsole.connect(peer.path, (flags & 2) != 0 ? s -> {
            throw new IllegalStateException("a sink that fails");
        } : null, keep);
        try {
            for (int i = 0; i < calls.size(); i++) call(con, calls.get(i)[0], calls.get(i)[1], args.get(i), timeout, log);
            if (con.text().length() > keep) throw failure("the buffer holds " + con.text().length() + " chars, keep is " + keep, null, log);
        } finally {
            con.close();
        }
        owed = false;
        peer.awaitServed(2000);
        String grew = census.check(2000);
        if (grew != null) throw failure("left after close: " + grew, null, log);
        List<String> deaths = UncaughtExceptions.drain();
        if (!deaths.isEmpty()) throw failure(deaths.getFirst(), null, log);
    }

    private static void call(SerialConsole con, int call, int arg, byte[] literal, Duration timeout, List<String> log) {
        long t0 = System.nanoTime();
        String what = List.of("run", "expect", "expect", "lastLines", "text", "type").get(call);
        try {
            switch (call) {
                case RUN -> log.add("run -> " + con.run("uname -a", timeout));
                case EXPECT_LITERAL -> {
                    what = "expect '" + new String(literal, StandardCharsets.UTF_8) + "'";
                    con.expect(new String(literal, StandardCharsets.UTF_8), timeout);
                }
                case EXPECT_PATTERN -> {
                    what = "expect /" + PATTERNS[arg % PATTERNS.length] + "/";
                    con.expect(PATTERNS[arg % PATTERNS.length], timeout);
                }
                case LAST_LINES -> con.lastLines(arg % 30);
                case TEXT -> con.text();
                default -> {
                    try {
                        con.sendLine("ls " + arg);
                    } catch (IOException e) {
                        log.add("type: " + e.getMessage()); // the line is gone: typing may fail
                    }
                }
            }
            log.add(what);
        } catch (SerialConsole.ConsoleException e) {
            log.add(what + ": " + e.getMessage().lines().findFirst().orElse(""));
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

    /** Writes the seed corpus: {@code java -cp TEST_CLASSPATH guestlab.engine.qemu.SerialConsoleFuzzTest java-core/src/test/resources} */
    public static void main(String[] args) throws Exception {
        SeedFiles.write(Path.of(args[0]), SerialConsoleFuzzTest.class, "guestOutput", seeds());
    }

    static byte[] input(int flags, int keep, int[][] calls, String before, String after) {
        ByteCursor.Writer w = new ByteCursor.Writer().u8(flags).u16(keep).u8(calls.length);
        for (int[] call : calls) {
            w.u8(call[0]).u8(call.length > 1 ? call[1] : 0);
            if (call[0] == EXPECT_LITERAL) w.lengthPrefixed("# ".getBytes(StandardCharsets.UTF_8));
        }
        return w.lengthPrefixed(before.getBytes(StandardCharsets.UTF_8)).bytes(after.getBytes(StandardCharsets.UTF_8)).toByteArray();
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        String boot = "Linux version 6.1.0 (debian)\r\nRun /init as init process\r\n/ # ";
        String echo = "\u001b[6nprintf '%s%s\\n' __GL_ BEGIN_x; uname -a; printf ...\r\n";
        s.put("boot-then-run", input(0, 4000, new int[][] {{EXPECT_PATTERN, 2}, {EXPECT_LITERAL}, {RUN}, {LAST_LINES, 5}, {TEXT}},
                boot, echo + "\u0001B\r\nLinux guest 6.1.0 x86_64\r\n\r\n\u0001E=0\r\n/ # "));
        s.put("run-failing-status", input(0, 4000, new int[][] {{RUN}, {RUN}},
                "", "\u0001B\r\nno such file\r\n\u0001E=127\r\n/ # "));
        s.put("small-buffer", input(2, 32, new int[][] {{RUN}, {EXPECT_PATTERN, 3}, {LAST_LINES, 3}},
                "x".repeat(300) + "\r\n", "\u0001B\r\n" + "long output line\r\n".repeat(20) + "\u0001E=0\r\n"));
        s.put("utf8-split-and-panic", input(0, 1000, new int[][] {{EXPECT_PATTERN, 4}, {TYPE, 1}, {TEXT}},
                "Grüße \u00e9\u20ac\r\nKernel panic - not syncing", ""));
        s.put("quiet-line-kept-open", input(1, 500, new int[][] {{RUN}, {EXPECT_LITERAL}}, "/ # ", ""));
        return s;
    }
}

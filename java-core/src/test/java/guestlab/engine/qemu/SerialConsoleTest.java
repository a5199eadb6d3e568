package guestlab.engine.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** The console against a fake shell on a unix socket: what busybox ash on a serial line does. */
@Timeout(20)
class SerialConsoleTest {
    static final Duration T = Duration.ofSeconds(5);
    static final Pattern TYPED = Pattern.compile("printf '%s%s\\\\n' __GL_ (BEGIN_\\S+); (.*); printf '\\\\n%s%s=%d\\\\n' __GL_ (END_\\S+) \\$\\?");

    /** Echoes the typed line the way ash's line editor does on an 80-column tty, then "runs" it. */
    static void fakeShell(FakeUnixPeer sh, String output, int status) throws IOException {
        String line = sh.readLine();
        Matcher m = TYPED.matcher(line);
        assertTrue(m.matches(), line);
        String echo = line.length() > 80 ? line.substring(0, 80) + "\r\n" + line.substring(80) : line;
        sh.write("\u001b[6n" + echo + "\r\n");
        sh.write("__GL_" + m.group(1) + "\r\n" + output.replace("\n", "\r\n") + "\r\n__GL_" + m.group(3) + "=" + status + "\r\n/ # ");
    }

    @Test
    void runParsesOutputAndStatusDespiteTheEcho(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer sh = new FakeUnixPeer(dir.resolve("s"));
             SerialConsole con = connect(sh, null)) {
            var shell = CompletableFuture.runAsync(() -> {
                try {
                    fakeShell(sh, "line one\nline two\n", 0);
                    fakeShell(sh, "", 3);
                    fakeShell(sh, "no newline", 0);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            assertEquals(new SerialConsole.Result("line one\nline two\n", 0), con.run("echo a very long command line that wraps past eighty columns on the guest tty", T));
            assertEquals(new SerialConsole.Result("", 3), con.run("(exit 3)", T));
            assertEquals(new SerialConsole.Result("no newline", 0), con.run("printf 'no newline'", T));
            shell.get();
        }
    }

    @Test
    void expectMovesPastEachMatchAndMirrorsToTheSink(@TempDir Path dir) throws Exception {
        StringBuilder mirror = new StringBuilder();
        try (FakeUnixPeer sh = new FakeUnixPeer(dir.resolve("s"));
             SerialConsole con = connect(sh, s -> { synchronized (mirror) { mirror.append(s); } })) {
            sh.write("boot 1\r\nready\r\nboot 2\r\nready\r\n");
            MatchResult first = con.expect(Pattern.compile("boot (\\d)"), T);
            assertEquals("1", first.group(1));
            assertEquals("2", con.expect(Pattern.compile("boot (\\d)"), T).group(1), "the second match, not the first again");
            assertThrows(SerialConsole.ConsoleException.class, () -> con.expect("boot", Duration.ofMillis(100)));
            assertEquals(List.of("boot 2", "ready"), con.lastLines(2));
            synchronized (mirror) {
                assertEquals("boot 1\r\nready\r\nboot 2\r\nready\r\n", mirror.toString());
            }
        }
    }

    @Test
    void aTimeoutShowsTheLastTwentyLines(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer sh = new FakeUnixPeer(dir.resolve("s"));
             SerialConsole con = connect(sh, null)) {
            StringBuilder out = new StringBuilder();
            for (int i = 1; i <= 30; i++) out.append("line ").append(i).append("\r\n");
            sh.write(out.toString());
            con.expect("line 30", T);
            var e = assertThrows(SerialConsole.ConsoleException.class, () -> con.expect("never", Duration.ofMillis(100)));
            assertTrue(e.getMessage().contains("within 100 ms"), e.getMessage());
            assertTrue(e.consoleTail().startsWith("line 11\nline 12"), e.consoleTail());
            assertTrue(e.consoleTail().endsWith("line 30"), e.consoleTail());
        }
    }

    @Test
    void aClosedConsoleFailsAtOnce(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer sh = new FakeUnixPeer(dir.resolve("s"));
             SerialConsole con = connect(sh, null)) {
            sh.write("Kernel panic - not syncing\r\n");
            sh.closePeer();
            long t0 = System.nanoTime();
            var e = assertThrows(SerialConsole.ConsoleException.class, () -> con.expect("# ", Duration.ofSeconds(10)));
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "did not wait the whole timeout");
            assertTrue(e.getMessage().contains("console closed"), e.getMessage());
            assertTrue(e.getMessage().contains("Kernel panic"), e.getMessage());
        }
    }

    @Test
    void onlyTheLastCharactersAreKeptAndUtf8SurvivesSplitReads(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer sh = new FakeUnixPeer(dir.resolve("s"));
             SerialConsole con = SerialConsole.connect(sh.path, null, 1000)) {
            sh.accept();
            sh.write("x".repeat(5000) + "Grüße\r\n");
            con.expect("Grüße", T);
            assertEquals(1000, con.text().length());
            assertTrue(con.text().endsWith("Grüße\r\n"));
        }
    }

    private static SerialConsole connect(FakeUnixPeer sh, java.util.function.Consumer<String> sink) throws IOException {
        SerialConsole con = SerialConsole.connect(sh.path, sink);
        sh.accept();
        return con;
    }
}

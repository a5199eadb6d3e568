package guestlab.engine.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A QMP listener or serial sink that throws: its reader thread lives on, the failures are
 * counted, and the first is printed once on stderr.
 */
@Timeout(20)
class ListenerFailureTest {
    static final Duration T = Duration.ofSeconds(5);

    @Test
    void aFailingQmpListenerIsCountedAndReportedOnceAndTheOthersStillHear(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer q = new FakeUnixPeer(dir.resolve("qmp")); StderrCapture err = new StderrCapture()) {
            Thread server = Thread.ofPlatform().start(() -> {
                try {
                    q.accept();
                    q.write(QmpClientTest.GREETING);
                    q.write("{\"return\": {}, \"id\": " + QmpClientTest.id(q.readLine()) + "}\n");
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (QmpClient qmp = QmpClient.connect(q.path, T)) {
                server.join();
                List<String> heard = new CopyOnWriteArrayList<>();
                CountDownLatch both = new CountDownLatch(2);
                qmp.addListener(e -> {
                    throw new IllegalStateException("listener bug on " + e.name());
                });
                qmp.addListener(e -> {
                    heard.add(e.name());
                    both.countDown();
                });

                q.write("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n");
                q.write("{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 2, \"microseconds\": 0}}\n");
                assertTrue(both.await(5, TimeUnit.SECONDS), "the second listener heard both events");

                assertEquals(List.of("STOP", "RESUME"), heard);
                assertEquals(2, qmp.listenerFailures(), "the failing listener ran before the other, both times");
                List<String> reports = err.lines("QMP event listener");
                assertEquals(1, reports.size(), "reported once: " + reports);
                assertTrue(reports.getFirst().contains("java.lang.IllegalStateException: listener bug on STOP"), reports.getFirst());
                assertTrue(reports.getFirst().contains(q.path.toString()), reports.getFirst());
                assertEquals(2, qmp.events().size());
            }
        }
    }

    @Test
    void aFailingSerialSinkIsCountedAndReportedOnceAndTheConsoleReadsOn(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer sh = new FakeUnixPeer(dir.resolve("s")); StderrCapture err = new StderrCapture()) {
            List<String> chunks = new CopyOnWriteArrayList<>();
            SerialConsole con = SerialConsole.connect(sh.path, chunk -> {
                chunks.add(chunk);
                throw new IllegalStateException("sink bug");
            });
            sh.accept();
            sh.write("one\r\n");
            String report = err.awaitLine("serial console sink", T);
            assertTrue(report.contains("java.lang.IllegalStateException: sink bug"), report);
            assertTrue(report.contains(sh.path.toString()), report);

            // Each write waits for the last to be read: the sink sees at least three chunks.
            con.expect("one", T);
            sh.write("two\r\n");
            con.expect("two", T);
            sh.write("three\r\n");
            con.expect("three", T);
            con.close();
            assertFalse(con.isOpen(), "the reader has finished");

            assertTrue(chunks.size() >= 3, chunks.toString());
            assertEquals(chunks.size(), con.sinkFailures(), "every chunk the sink threw on is counted");
            assertEquals(1, err.lines("serial console sink").size(), "reported once");
            assertEquals("one\r\ntwo\r\nthree\r\n", con.text());
        }
    }
}

package guestlab.engine.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.*;

/** QMP against a scripted fake QEMU: ids, errors, events, timeouts. */
@Timeout(20)
class QmpClientTest {
    static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": [\"oob\"]}}\n";

    static String id(String request) {
        return request.replaceAll(".*\"id\":(\\d+).*", "$1");
    }

    @Test
    void negotiatesThenRunsCommandsAndCollectsEvents(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer q = new FakeUnixPeer(dir.resolve("qmp"))) {
            var server = CompletableFuture.runAsync(() -> {
                try {
                    q.accept();
                    q.write(GREETING);
                    String caps = q.readLine();
                    assertTrue(caps.contains("\"execute\":\"qmp_capabilities\""), caps);
                    q.write("{\"return\": {}, \"id\": " + id(caps) + "}\n");
                    String stop = q.readLine();
                    assertTrue(stop.contains("\"execute\":\"stop\""), stop);
                    q.write("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, \"event\": \"STOP\"}\n");
                    q.write("{\"return\": {}, \"id\": 999}\n"); // a stale reply: ignored
                    q.write("{\"return\": {}, \"id\": " + id(stop) + "}\n");
                    String st = q.readLine();
                    q.write("{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}, \"id\": " + id(st) + "}\n");
                    String bad = q.readLine();
                    assertTrue(bad.contains("\"arguments\":{\"device\":\"nope\"}"), bad);
                    q.write("{\"id\": " + id(bad) + ", \"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'nope' not found\"}}\n");
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            List<QmpClient.Event> seen = new CopyOnWriteArrayList<>();
            try (QmpClient qmp = QmpClient.connect(q.path, Duration.ofSeconds(5))) {
                qmp.addListener(seen::add);
                qmp.stop();
                assertEquals("paused", qmp.status());
                QmpException e = assertThrows(QmpException.class, () -> qmp.execute("device_del", Map.of("device", "nope")));
                assertEquals("DeviceNotFound", e.errorClass());
                assertEquals("QMP device_del failed: DeviceNotFound: Device 'nope' not found", e.getMessage());
                server.get();
                assertEquals(List.of("STOP"), qmp.events().stream().map(QmpClient.Event::name).toList());
                assertEquals(1700000000L, qmp.events().getFirst().timestamp().getEpochSecond());
                assertEquals(1, seen.size());
            }
        }
    }

    @Test
    void nextEventIsTheFirstMatchingEventAfterTheCall(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer q = new FakeUnixPeer(dir.resolve("qmp"))) {
            var server = CompletableFuture.runAsync(() -> {
                try {
                    q.accept();
                    q.write(GREETING);
                    String caps = q.readLine();
                    q.write("{\"return\": {}, \"id\": " + id(caps) + "}\n");
                    String del = q.readLine();
                    q.write("{\"return\": {}, \"id\": " + id(del) + "}\n");
                    q.write("{\"event\": \"DEVICE_DELETED\", \"data\": {\"path\": \"/machine/peripheral/hp0/virtio-backend\"}}\n");
                    q.write("{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"hp1\", \"path\": \"/machine/peripheral/hp1\"}}\n");
                    q.write("{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"hp0\", \"path\": \"/machine/peripheral/hp0\"}}\n");
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (QmpClient qmp = QmpClient.connect(q.path, Duration.ofSeconds(5))) {
                CompletableFuture<QmpClient.Event> deleted = qmp.nextEvent("DEVICE_DELETED", d -> "hp0".equals(d.get("device")));
                qmp.execute("device_del", Map.of("id", "hp0"));
                assertEquals("/machine/peripheral/hp0", deleted.get(5, java.util.concurrent.TimeUnit.SECONDS).data().get("path"));
                server.get();
            }
        }
    }

    @Test
    void everyWaitTimesOut(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer q = new FakeUnixPeer(dir.resolve("qmp"))) {
            var server = CompletableFuture.runAsync(() -> {
                try {
                    q.accept(); // and never greets
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            long t0 = System.nanoTime();
            QmpException e = assertThrows(QmpException.class, () -> QmpClient.connect(q.path, Duration.ofMillis(300)));
            assertEquals("Timeout", e.errorClass());
            assertTrue(e.getMessage().contains("greeting"), e.getMessage());
            assertTrue(System.nanoTime() - t0 < 3_000_000_000L);
            server.get();
        }
    }

    @Test
    void quitSucceedsWhenQemuHangsUp(@TempDir Path dir) throws Exception {
        try (FakeUnixPeer q = new FakeUnixPeer(dir.resolve("qmp"))) {
            var server = CompletableFuture.runAsync(() -> {
                try {
                    q.accept();
                    q.write(GREETING);
                    q.write("{\"return\": {}, \"id\": " + id(q.readLine()) + "}\n");
                    q.readLine(); // quit
                    q.closePeer();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (QmpClient qmp = QmpClient.connect(q.path, Duration.ofSeconds(5))) {
                qmp.quit();
                server.get();
                QmpException e = assertThrows(QmpException.class, qmp::status);
                assertEquals("Closed", e.errorClass());
            }
        }
    }
}

package guestlab.devices;

import guestlab.testing.Await;
import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

class ConsoleDeviceTest {
    @Test
    void inputSentBeforeTheGuestPostsBuffersIsDeliveredLater() throws Exception {
        BufferConsole host = new BufferConsole();
        try (DeviceHarness h = new DeviceHarness(new ConsoleDevice(host))) {
            host.send("early bird\n");
            Buffer rx = h.buffer(64);
            DriverQueue.Used u = h.send(0, List.of(), List.of(rx));
            assertNotNull(u);
            assertEquals("early bird\n", new String(h.mem.read(rx.addr(), u.len()), StandardCharsets.UTF_8));
        }
    }

    @Test
    void inputLargerThanABufferSpansSeveral() throws Exception {
        BufferConsole host = new BufferConsole();
        try (DeviceHarness h = new DeviceHarness(new ConsoleDevice(host))) {
            Buffer a = h.buffer(4), b = h.buffer(4);
            h.drivers[0].add(List.of(), List.of(a));
            h.drivers[0].add(List.of(), List.of(b));
            host.send("abcdefg");
            assertEquals("abcd", new String(h.mem.read(a.addr(), h.drivers[0].pollUsed().len())));
            assertEquals("efg", new String(h.mem.read(b.addr(), h.drivers[0].pollUsed().len())));
        }
    }

    @Test
    void guestOutputReachesTheHostAndAwaitTimesOutWithContext() throws Exception {
        BufferConsole host = new BufferConsole();
        try (DeviceHarness h = new DeviceHarness(new ConsoleDevice(host))) {
            h.send(1, List.of(h.buffer("line one\nline two\n".getBytes())), List.of());
            assertEquals("line one\nline two\n", host.text());
            assertEquals("line two", host.awaitText(Pattern.compile("line \\w+o"), Duration.ofSeconds(1)));
            var e = assertThrows(BufferConsole.ConsoleTimeoutException.class,
                    () -> host.awaitText(Pattern.compile("login:"), Duration.ofMillis(50)));
            assertTrue(e.getMessage().contains("line two"), e.getMessage());
            assertTrue(e.getMessage().contains("/login:/"));
        }
    }

    @Test
    void aStreamConsoleForwardsBothWays() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StreamConsole host = new StreamConsole(new ByteArrayInputStream("typed\n".getBytes()), out);
        try (DeviceHarness h = new DeviceHarness(new ConsoleDevice(host))) {
            h.send(1, List.of(h.buffer("printed".getBytes())), List.of());
            assertEquals("printed", out.toString());
            Buffer rx = h.buffer(64);
            DriverQueue.Used u = h.send(0, List.of(), List.of(rx));
            // stdin is read on the console's own thread, which wakes the device when bytes come
            if (u == null) u = Await.present("stdin's bytes in the guest's receive buffer", h.drivers[0]::pollUsed);
            assertEquals("typed\n", new String(h.mem.read(rx.addr(), u.len())));
        }
    }
}

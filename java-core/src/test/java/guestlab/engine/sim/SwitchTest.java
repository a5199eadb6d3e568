package guestlab.engine.sim;

import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Simulated guests on one in-JVM switch: unicast reaches its guest only, broadcast reaches all. */
class SwitchTest {
    private final Launcher launcher = new Launcher();

    @AfterEach
    void stop() {
        launcher.stopAll();
    }

    private SimGuest guest(String name, String mac) throws Exception {
        return (SimGuest) launcher.start(new GuestSpec(name, "sim", 4 << 20,
                List.of(new DeviceSpec("net", null, Map.of("switch", "lan", "mac", mac)))));
    }

    /** The next frame {@code g} receives, which must come. */
    private static byte[] next(SimGuest g) {
        byte[] f = g.net("net0").receive(Duration.ofSeconds(5));
        assertNotNull(f, () -> g.name() + " received no frame within 5 s");
        return f;
    }

    private static byte[] frame(byte[] dst, byte[] src, String payload) {
        byte[] p = payload.getBytes();
        byte[] f = new byte[14 + p.length];
        System.arraycopy(dst, 0, f, 0, 6);
        System.arraycopy(src, 0, f, 6, 6);
        f[12] = (byte) 0x88;
        f[13] = (byte) 0xb5;
        System.arraycopy(p, 0, f, 14, p.length);
        return f;
    }

    @Test
    void unicastReachesTheRightGuestOnlyAndBroadcastReachesAll() throws Exception {
        SimGuest a = guest("a", "52:54:00:00:00:0a");
        SimGuest b = guest("b", "52:54:00:00:00:0b");
        SimGuest c = guest("c", "52:54:00:00:00:0c");
        byte[] macA = a.net("net0").mac(), macB = b.net("net0").mac(), macC = c.net("net0").mac();
        assertArrayEquals(new byte[] {0x52, 0x54, 0, 0, 0, 0x0a}, macA, "MAC from config space");
        assertTrue(a.net("net0").linkUp());

        // What a guest must not get is proved by what it gets next: a send returns once the switch
        // has put the frame in every port's queue it goes to, and each queue is first in, first
        // out, so a frame wrongly delivered would come before any frame sent after it.
        byte[] bcast = {-1, -1, -1, -1, -1, -1};
        // Everyone broadcasts once, so the switch learns every port. A sender that heard its own
        // broadcast would find it before the next guest's.
        for (SimGuest g : List.of(a, b, c)) {
            byte[] f = frame(bcast, g.net("net0").mac(), "hello from " + g.name());
            g.net("net0").send(f);
            for (SimGuest other : List.of(a, b, c)) {
                if (other == g) continue;
                assertArrayEquals(f, next(other), other.name() + " got " + g.name() + "'s broadcast, and nothing of its own before it");
            }
        }

        byte[] toB = frame(macB, macA, "for b only");
        a.net("net0").send(toB);
        assertArrayEquals(toB, next(b));
        byte[] toC = frame(macC, macB, "for c only");
        b.net("net0").send(toC);
        assertArrayEquals(toC, next(c), "c's next frame is its unicast: it got neither b's unicast nor its own broadcast");

        byte[] fromA = frame(bcast, macA, "last from a");
        a.net("net0").send(fromA);
        assertArrayEquals(fromA, next(b), "b did not hear its own unicast");
        assertArrayEquals(fromA, next(c));
        byte[] fromB = frame(bcast, macB, "last from b");
        b.net("net0").send(fromB);
        assertArrayEquals(fromB, next(a), "a got neither b's nor c's unicast, nor its own frames");
        assertArrayEquals(fromB, next(c));
        assertEquals(3, launcher.switchNamed("lan").portCount());
    }

    @Test
    void aGuestThatNeverReadsDoesNotStallTheSwitch() throws Exception {
        SimGuest a = guest("talker", "52:54:00:00:01:0a");
        SimGuest deaf = guest("deaf", "52:54:00:00:01:0b");
        SimGuest c = guest("listener", "52:54:00:00:01:0c");
        byte[] bcast = {-1, -1, -1, -1, -1, -1};
        // 16 rx buffers + a 256-frame backlog: 400 broadcasts overflow the deaf guest's side.
        for (int i = 0; i < 400; i++) {
            a.net("net0").send(frame(bcast, a.net("net0").mac(), "frame " + i));
            assertNotNull(c.net("net0").receive(Duration.ofSeconds(2)), "the listener keeps receiving (frame " + i + ")");
        }
        assertTrue(deaf.events().recent().stream().anyMatch(e -> e.detail().contains("backlog full")),
                "the drops are reported");
    }
}

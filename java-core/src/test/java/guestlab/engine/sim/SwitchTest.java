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

        // Everyone broadcasts once, so the switch learns every port.
        byte[] bcast = {-1, -1, -1, -1, -1, -1};
        for (SimGuest g : List.of(a, b, c)) {
            byte[] f = frame(bcast, g.net("net0").mac(), "hello from " + g.name());
            g.net("net0").send(f);
            for (SimGuest other : List.of(a, b, c)) {
                if (other == g) continue;
                assertArrayEquals(f, other.net("net0").receive(Duration.ofSeconds(2)), other.name() + " got the broadcast");
            }
            assertNull(g.net("net0").receive(Duration.ofMillis(50)), "a sender does not hear its own frame");
        }

        byte[] toB = frame(macB, macA, "for b only");
        a.net("net0").send(toB);
        assertArrayEquals(toB, b.net("net0").receive(Duration.ofSeconds(2)));
        assertNull(c.net("net0").receive(Duration.ofMillis(100)), "c must not see b's unicast");
        assertNull(a.net("net0").receive(Duration.ofMillis(10)));

        byte[] toC = frame(macC, macB, "for c only");
        b.net("net0").send(toC);
        assertArrayEquals(toC, c.net("net0").receive(Duration.ofSeconds(2)));
        assertNull(a.net("net0").receive(Duration.ofMillis(100)), "a must not see c's unicast");
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

package guestlab.launcher;

import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.QemuGuest;
import guestlab.testing.RequiresQemu;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/** Two real Linux guests on one guestlab switch, their virtio-net cards served over vhost-user. */
@RequiresQemu
class TwoGuestsPingTest {
    private static GuestSpec spec(String name, String mac) {
        return new GuestSpec(name, "qemu", 256L << 20,
                List.of(new DeviceSpec("net", null, Map.of("switch", "lan", "mac", mac))));
    }

    @Test
    void twoGuestsPingEachOtherWithoutLoss() throws Exception {
        try (Launcher launcher = new Launcher()) {
            // Boot both at once: each TCG guest keeps one core busy while it boots.
            CompletableFuture<Guest> fa = CompletableFuture.supplyAsync(() -> start(launcher, spec("a", "52:54:00:00:00:0a")));
            QemuGuest b = (QemuGuest) start(launcher, spec("b", "52:54:00:00:00:0b"));
            QemuGuest a = (QemuGuest) fa.join();
            Duration t = Duration.ofSeconds(60);
            assertEquals(0, a.console().run("ip link set eth0 up && ip addr add 10.9.0.1/24 dev eth0", t).exitCode());
            assertEquals(0, b.console().run("ip link set eth0 up && ip addr add 10.9.0.2/24 dev eth0", t).exitCode());
            assertTrue(a.console().run("cat /sys/class/net/eth0/address", t).output().contains("52:54:00:00:00:0a"));
            var ping = b.console().run("ping -c 20 -i 0.2 -W 2 10.9.0.1", Duration.ofSeconds(90));
            assertEquals(0, ping.exitCode(), ping.output());
            assertTrue(ping.output().contains("20 packets transmitted, 20 packets received, 0% packet loss"), ping.output());
            var sw = launcher.switchNamed("lan");
            assertTrue(sw.forwarded() >= 40, "echo requests and replies went port to port: " + sw.forwarded());
            assertEquals(2, sw.portCount());
        }
    }

    private static Guest start(Launcher launcher, GuestSpec spec) {
        try {
            return launcher.start(spec);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}

package guestlab.engine.sim;

import guestlab.events.Event;
import guestlab.events.EventKind;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;
import guestlab.testing.Await;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** A guest that corrupts a ring breaks that device only; the launcher and other devices go on. */
class HostileGuestTest {
    @TempDir
    Path dir;
    private final Launcher launcher = new Launcher();

    @AfterEach
    void stop() {
        launcher.stopAll();
    }

    @Test
    void aDescriptorLoopBreaksOnlyThatDevice() throws Exception {
        Path img = dir.resolve("d.img");
        Files.write(img, new byte[1 << 16]);
        SimGuest g = (SimGuest) launcher.start(new GuestSpec("hostile", "sim", 8 << 20, List.of(
                new DeviceSpec("block", null, Map.of("file", img.toString())),
                new DeviceSpec("rng", null, Map.of()))));
        VringLayout ring = g.queues("block0").getFirst().layout();
        var mem = g.memory();
        // Descriptors 0 -> 1 -> 0, offered as the next avail entry, then the kick.
        for (int i = 0; i < 2; i++) {
            long d = ring.descriptor(i);
            mem.writeU64(d + VringLayout.DESC_ADDR, 0x100000);
            mem.writeU32(d + VringLayout.DESC_LEN, 16);
            mem.writeU16(d + VringLayout.DESC_FLAGS, VringLayout.DESC_F_NEXT);
            mem.writeU16(d + VringLayout.DESC_NEXT, 1 - i);
        }
        int idx = mem.readU16(ring.availIdx());
        mem.writeU16(ring.availSlot(idx), 0);
        mem.writeU16(ring.availIdx(), idx + 1);
        g.notify(ring.desc());

        Await.until("block0's status to say NEEDS_RESET", () -> g.deviceStatus("block0"),
                st -> (st & DeviceStatus.NEEDS_RESET) != 0);
        Event error = g.events().recent().stream().filter(e -> e.kind() == EventKind.DEVICE_ERROR).findFirst().orElseThrow();
        assertEquals("block0", error.device());
        assertEquals(RingFault.Reason.CHAIN_LOOP, g.queues("block0").getFirst().fault(), error.detail());

        assertEquals(32, g.rng("rng0").read(32).length, "the rng still works");
        assertEquals(0, g.deviceStatus("rng0") & DeviceStatus.NEEDS_RESET);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> g.block("block0").read(0, 512));
        assertTrue(e.getMessage().contains("NEEDS_RESET"));
        assertEquals(Guest.State.RUNNING, g.state());
    }

    @Test
    void aRingPlacedInTheDevicePageIsRefused() throws Exception {
        SimGuest g = (SimGuest) launcher.start(new GuestSpec("ok", "sim", 4 << 20, List.of(new DeviceSpec("rng", null, Map.of()))));
        // Play a second boot of the rng with its ring pfn pointing at the device page itself.
        long page = 4L << 20;
        int status = g.memory().readU8(page + 4);
        g.memory().writeU8(page + 4, 0);
        g.notify(page);
        g.memory().writeU32(page + 5 + 4, page / 4096);
        g.memory().writeU8(page + 4, status);
        g.notify(page);
        assertTrue((g.deviceStatus("rng0") & DeviceStatus.NEEDS_RESET) != 0);
        assertTrue(g.events().recent().stream().anyMatch(e -> e.kind() == EventKind.DEVICE_ERROR
                && e.detail().contains("not inside guest RAM")));
    }

    @Test
    void notifyingARandomAddressIsReportedNotFatal() throws Exception {
        SimGuest g = (SimGuest) launcher.start(new GuestSpec("poke", "sim", 4 << 20, List.of(new DeviceSpec("rng", null, Map.of()))));
        g.notify(0xdead000);
        assertTrue(g.events().recent().stream().anyMatch(e -> e.kind() == EventKind.HOST_WARNING
                && e.detail().contains("neither a queue nor a device")));
        assertEquals(8, g.rng("rng0").read(8).length);
    }

    @Test
    void scribblingOverTheDescriptorHeaderChangesNothing() throws Exception {
        SimGuest g = (SimGuest) launcher.start(new GuestSpec("scribble", "sim", 4 << 20, List.of(new DeviceSpec("rng", null, Map.of()))));
        long page = 4L << 20;
        g.memory().writeU8(page + 1, 255); // num_vq
        g.memory().writeU8(page + 2, 255); // feature_len
        g.memory().writeU8(page + 3, 255); // config_len
        g.notify(page);
        assertEquals(16, g.rng("rng0").read(16).length, "the launcher kept its own view of the layout");
        assertEquals(0, g.deviceStatus("rng0") & DeviceStatus.NEEDS_RESET);
    }
}

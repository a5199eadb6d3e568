package guestlab.engine.sim;

import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.events.Event;
import guestlab.events.EventKind;
import guestlab.launcher.Launcher;
import guestlab.lguest.DevicePage;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.DeviceType;
import guestlab.virtio.QueueState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Devices plugged into and unplugged from a running sim guest: what the lguest device page holds,
 * what the guest's drivers do with them, and what reaches the image files.
 */
class SimHotplugTest {
    private static final long RAM = 16 << 20;
    private static final int OK = DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK
            | DeviceStatus.DRIVER_OK;

    @TempDir
    Path dir;
    private final Launcher launcher = new Launcher();

    @AfterEach
    void stop() {
        launcher.stopAll();
    }

    private SimGuest start(String name, DeviceSpec... devices) throws Exception {
        return (SimGuest) launcher.start(new GuestSpec(name, "sim", RAM, List.of(devices)));
    }

    private static DeviceSpec device(String kind, Map<String, Object> options) {
        return new DeviceSpec(kind, null, options);
    }

    private DeviceSpec disk(String file) throws Exception {
        Path p = dir.resolve(file);
        Files.write(p, new byte[1 << 20]);
        return device("block", Map.of("file", p.toString()));
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** The device descriptors on g's page, as its kernel's walk from the start finds them. */
    private static List<Long> page(SimGuest g) {
        return DevicePage.scan(g.memory(), RAM, LguestRing.PAGE_SIZE);
    }

    private static List<Event> events(SimGuest g, EventKind kind, String device) {
        return g.events().recent().stream().filter(e -> e.kind() == kind && e.device().equals(device)).toList();
    }

    private static List<String> lifecycle(SimGuest g) {
        return g.events().recent().stream().filter(e -> e.kind() == EventKind.LIFECYCLE).map(Event::detail).toList();
    }

    private static long deviceThreads(SimGuest g, String device) {
        String prefix = "guestlab-" + g.name() + "-" + device + "-q";
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix)).count();
    }

    @Test
    void aPluggedDiskIsWrittenAndReadByTheGuestAndItsImageHoldsTheBytesAfterUnplug() throws Exception {
        SimGuest g = start("plug", device("console", Map.of()), disk("boot.img"), device("rng", Map.of()));
        List<Long> atBoot = page(g);
        Path img = dir.resolve("plugged.img");
        Files.write(img, new byte[1 << 20]);

        assertEquals("block1", g.plug(device("block", Map.of("file", img.toString()))));
        assertEquals(List.of("console0", "block0", "rng0", "block1"), g.devices());
        List<Long> withPlugged = page(g);
        assertEquals(atBoot, withPlugged.subList(0, atBoot.size()), "the boot devices' descriptors did not move");
        long desc = withPlugged.getLast();
        assertEquals(DeviceType.BLOCK, g.memory().readU8(desc));
        assertEquals(OK, g.deviceStatus("block1"), "the guest's driver probed it");
        assertEquals(String.format("plugged block1: descriptor at 0x%x in the lguest device page, irqs [5]", desc),
                lifecycle(g).getLast(), "console0 has irqs 1 and 2, block0 3, rng0 4");
        assertEquals("reset -> ACKNOWLEDGE", events(g, EventKind.STATUS, "block1").getFirst().detail());

        SimBlockDriver block = g.block("block1");
        assertEquals(2048, block.capacity());
        assertEquals("plugged.img", block.id());
        byte[] data = random(3 * 4096 + 512, 1);
        block.write(8, data);
        assertArrayEquals(data, block.read(8, data.length));
        QueueState q = g.queues("block1").getFirst();
        assertEquals(q.usedIdx(), q.availIdx());
        assertEquals(3, q.counters().requests(), "get-id, write, read");
        assertTrue(g.queues().stream().anyMatch(s -> s.id().equals(q.id())), "among the guest's queues");

        g.unplug("block1");
        assertEquals(List.of("console0", "block0", "rng0"), g.devices());
        assertArrayEquals(data, Arrays.copyOfRange(Files.readAllBytes(img), 8 * 512, 8 * 512 + data.length),
                "the image holds what the guest wrote; the guest never flushed");
        assertEquals("ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK -> reset", events(g, EventKind.STATUS, "block1").getLast().detail(),
                "the guest's driver reset the device before it went");
        assertEquals(0, deviceThreads(g, "block1"));
        assertEquals(LguestDeviceDesc.TYPE_REMOVED, g.memory().readU8(desc));
        assertEquals(atBoot, page(g));
        assertEquals(String.format("unplugged block1: its descriptor at 0x%x in the lguest device page is marked removed (type 0xff)", desc),
                lifecycle(g).getLast());
        var gone = assertThrows(IllegalArgumentException.class, () -> g.block("block1"));
        assertEquals("no block device block1; devices: [console0, block0, rng0]", gone.getMessage());
        var stale = assertThrows(IllegalStateException.class, () -> block.read(0, 512), "a driver handle kept from before");
        assertEquals("block1 was unplugged", stale.getMessage());

        g.block("block0").write(0, data);
        assertArrayEquals(data, g.block("block0").read(0, data.length), "the boot disk goes on");
        assertEquals(16, g.rng("rng0").read(16).length);
    }

    @Test
    void aNameIsFreeAgainAfterUnplugAndTheKernelFindsTheNewDevicePastTheRemovedDescriptor() throws Exception {
        SimGuest g = start("again", disk("boot.img"));
        g.plug(disk("a.img"));
        long first = page(g).getLast();
        g.unplug("block1");

        assertEquals("block1", g.plug(disk("b.img")));
        long second = page(g).getLast();
        assertEquals(first + LguestDeviceDesc.size(1, 8, g.block("block1").config().length), second,
                "appended after the removed descriptor, which kept its place");
        assertEquals(List.of(RAM, second), page(g));
        assertTrue(lifecycle(g).getLast().endsWith("irqs [3]"), "block0 has irq 1, the first block1 had 2: " + lifecycle(g).getLast());
        assertEquals("b.img", g.block("block1").id(), "the driver bound the new descriptor, not the removed one");
        byte[] data = random(4096, 2);
        g.block("block1").write(0, data);
        g.block("block1").flush();
        assertArrayEquals(data, Arrays.copyOf(Files.readAllBytes(dir.resolve("b.img")), 4096));
        assertArrayEquals(new byte[4096], Arrays.copyOf(Files.readAllBytes(dir.resolve("a.img")), 4096));

        assertEquals("block2", g.plug(device("block", Map.of("file", dir.resolve("a.img").toString()))), "block1 is taken");
        assertEquals(List.of("block0", "block1", "block2"), g.devices());
    }

    @Test
    void aFullPageRefusesAPlugNamingTheBytesMissingAndTheGuestGoesOn() throws Exception {
        SimGuest g = start("full", disk("boot.img"), device("net", Map.of("switch", "full-page")));
        List<String> plugged = new ArrayList<>();
        IllegalStateException full = null;
        while (full == null) {
            try {
                plugged.add(g.plug(device("rng", Map.of())));
            } catch (IllegalStateException e) {
                full = e;
            }
        }
        assertTrue(plugged.size() > 100, "29 bytes each: " + plugged.size());
        assertTrue(full.getMessage().matches("the lguest device page is full: a descriptor of 29 bytes and the type-0 terminator need 30, "
                + "\\d+ of its 4096 bytes are free: \\d+ bytes missing"), full.getMessage());

        byte[] page = g.memory().read(RAM, LguestRing.PAGE_SIZE);
        List<String> devices = g.devices();
        var net = assertThrows(IllegalStateException.class, () -> g.plug(device("net", Map.of("switch", "full-page"))));
        assertTrue(net.getMessage().contains("bytes missing"), net.getMessage());
        assertArrayEquals(page, g.memory().read(RAM, LguestRing.PAGE_SIZE), "nothing written");
        assertEquals(devices, g.devices());
        assertEquals(1, launcher.switchNamed("full-page").portCount(), "the net device built for the plug left its switch");
        assertEquals(0, deviceThreads(g, "net1"));

        byte[] data = random(4096, 3);
        g.block("block0").write(0, data);
        assertArrayEquals(data, g.block("block0").read(0, data.length));
        assertEquals(8, g.rng(plugged.getLast()).read(8).length);
        g.unplug(plugged.getLast());
        assertEquals(8, g.rng(plugged.getFirst()).read(8).length);
    }

    @Test
    void aStatusNotifyOrKickOnARemovedDescriptorIsRefused() throws Exception {
        SimGuest g = start("removed", disk("boot.img"));
        g.plug(device("rng", Map.of()));
        long desc = page(g).getLast();
        long ring = g.queues("rng0").getFirst().descAddr();
        g.unplug("rng0");
        int statusEvents = events(g, EventKind.STATUS, "rng0").size();

        g.memory().writeU8(desc + LguestDeviceDesc.STATUS_OFFSET, DeviceStatus.ACKNOWLEDGE);
        g.notify(desc);
        g.notify(ring);
        List<String> warnings = g.events().recent().stream().filter(e -> e.kind() == EventKind.HOST_WARNING).map(Event::detail).toList();
        assertEquals(List.of(String.format("guest notified 0x%x, which is neither a queue nor a device", desc),
                String.format("guest notified 0x%x, which is neither a queue nor a device", ring)), warnings);
        assertEquals(statusEvents, events(g, EventKind.STATUS, "rng0").size(), "the removed device saw no status change");
        assertEquals(LguestDeviceDesc.TYPE_REMOVED, g.memory().readU8(desc));
        assertEquals(List.of("block0"), g.devices());
    }

    @Test
    void whatCannotBePluggedOrUnpluggedIsRefusedAndLeavesTheGuestAsItWas() throws Exception {
        SimGuest g = start("refuse", disk("boot.img"), device("net", Map.of("switch", "refuse")));
        byte[] page = g.memory().read(RAM, LguestRing.PAGE_SIZE);

        assertEquals("block0 of refuse was attached at boot; only devices plugged in can be unplugged",
                assertThrows(IllegalArgumentException.class, () -> g.unplug("block0")).getMessage());
        assertEquals("no device block9; devices: [block0, net0]",
                assertThrows(IllegalArgumentException.class, () -> g.unplug("block9")).getMessage());
        assertEquals("engine sim cannot hot-plug a console device (it can: block net rng)",
                assertThrows(IllegalArgumentException.class, () -> g.plug(device("console", Map.of()))).getMessage());
        assertEquals("a hot-plugged device is guestlab's own, on a :file; :vhost-user, :rootfs and :ephemeral are for the devices a guest"
                        + " starts with",
                assertThrows(IllegalArgumentException.class,
                        () -> g.plug(device("block", Map.of("vhost-user", dir.resolve("vu.sock").toString())))).getMessage());
        assertEquals("refuse already has a device net0", assertThrows(IllegalArgumentException.class,
                () -> g.plug(new DeviceSpec("net", "net0", Map.of("switch", "refuse")))).getMessage());
        assertEquals("block device block1 needs a file option (the disk image)",
                assertThrows(IllegalArgumentException.class, () -> g.plug(device("block", Map.of()))).getMessage());
        var missing = assertThrows(UncheckedIOException.class,
                () -> g.plug(device("block", Map.of("file", dir.resolve("no/such.img").toString()))));
        assertTrue(missing.getMessage().startsWith("plug block1 into refuse: "), missing.getMessage());
        assertArrayEquals(page, g.memory().read(RAM, LguestRing.PAGE_SIZE));
        assertEquals(List.of("block0", "net0"), g.devices());
        assertEquals(1, launcher.switchNamed("refuse").portCount());

        g.pause();
        assertEquals("cannot plug a device of refuse: it is paused",
                assertThrows(IllegalStateException.class, () -> g.plug(device("rng", Map.of()))).getMessage());
        g.resume();
        g.stop();
        assertEquals("cannot unplug a device of refuse: it is stopped",
                assertThrows(IllegalStateException.class, () -> g.unplug("block0")).getMessage());
    }

    @Test
    void devicesComeAndGoWhileAnotherThreadDrivesADisk() throws Exception {
        SimGuest g = start("busy", disk("boot.img"));
        AtomicBoolean done = new AtomicBoolean();
        CountDownLatch firstRound = new CountDownLatch(1);
        CompletableFuture<Integer> disk = CompletableFuture.supplyAsync(() -> {
            int rounds = 0;
            while (!done.get()) {
                byte[] data = random(4096, rounds);
                long sector = rounds % 200 * 8;
                g.block("block0").write(sector, data);
                if (!Arrays.equals(data, g.block("block0").read(sector, 4096))) throw new AssertionError("round " + rounds);
                rounds++;
                firstRound.countDown();
            }
            return rounds;
        });
        assertTrue(firstRound.await(10, TimeUnit.SECONDS), () -> "the disk thread did not finish a round: " + disk);
        try {
            for (int i = 0; i < 50; i++) {
                String rng = g.plug(device("rng", Map.of()));
                assertEquals(16, g.rng(rng).read(16).length);
                g.unplug(rng);
            }
        } finally {
            done.set(true);
        }
        assertTrue(disk.get(10, TimeUnit.SECONDS) > 1, "the disk was busy throughout");
        assertEquals(List.of(), g.events().recent().stream()
                .filter(e -> e.kind() == EventKind.DEVICE_ERROR || e.kind() == EventKind.HOST_WARNING).toList());
        assertEquals(List.of("block0"), g.devices());
    }
}

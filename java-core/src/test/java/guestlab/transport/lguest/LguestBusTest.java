package guestlab.transport.lguest;

import guestlab.engine.sim.SimHypervisor;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.lguest.DevicePage;
import guestlab.lguest.Hypervisor;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LhReq;
import guestlab.memory.MemfdMemory;
import guestlab.testing.Await;
import guestlab.testing.Footprint;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.Features;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The lguest bus with a tiny device of our own, the guest played byte by byte through the
 * device page: descriptors, status and feature negotiation, LHREQ_EVENTFD kicks, LHREQ_IRQ
 * interrupts, config writes both ways, reset, faults, and clean shutdown.
 */
class LguestBusTest {
    private static final long RAM = 1 << 20;
    private static final long FEATURES = Features.RING_COMMON | Features.bit(EchoDevice.F_SHOUT);
    private static final int OK = DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK
            | DeviceStatus.DRIVER_OK;

    private final String guest = "bus" + System.nanoTime() % 100_000;
    private final MemfdMemory mem = MemfdMemory.allocate("bus-test", RAM + LguestRing.PAGE_SIZE);
    private final EventBus events = new EventBus(1024);
    private final SimHypervisor hv = new SimHypervisor(guest, mem, events);
    /** LHREQ requests the bus made, in order. */
    private final List<LhReq> requests = new CopyOnWriteArrayList<>();
    /** Notifies that left the hypervisor for the launcher (no eventfd took them). */
    private final List<Long> exits = new CopyOnWriteArrayList<>();
    private LguestBus bus;

    private LguestBus bus(Map<String, VirtioDevice> devices) {
        hv.request(new LhReq.Initialize(0, RAM / LguestRing.PAGE_SIZE, 0));
        Hypervisor recording = r -> {
            requests.add(r);
            hv.request(r);
        };
        bus = new LguestBus(guest, mem, RAM, new DevicePage(mem, RAM, LguestRing.PAGE_SIZE), recording, events, devices);
        hv.onExit(a -> {
            exits.add(a);
            return bus.handleNotify(a);
        });
        return bus;
    }

    private LguestBus bus(EchoDevice... devices) {
        Map<String, VirtioDevice> named = new LinkedHashMap<>();
        for (int i = 0; i < devices.length; i++) named.put("echo" + i, devices[i]);
        return bus(named);
    }

    @AfterEach
    void close() {
        if (bus != null) bus.close();
        mem.close();
    }

    private long deviceThreads(String device) {
        String prefix = "guestlab-" + guest + "-" + device + "-q";
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix)).count();
    }

    private List<Event> events(EventKind kind) {
        return events.recent().stream().filter(e -> e.kind() == kind).toList();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void eachDeviceGetsADescriptorWithItsQueuesIrqsFeaturesAndConfig() {
        EchoDevice two = new EchoDevice(2), one = new EchoDevice(1);
        bus(two, one);
        byte[] page = mem.read(RAM, 80);
        // echo0: type, num_vq 2, feature_len 8, config_len 4, status 0
        assertArrayEquals(new byte[] {(byte) EchoDevice.TYPE, 2, 8, 4, 0}, Arrays.copyOfRange(page, 0, 5));
        // vq 0: num 64, irq 1, pfn 0; vq 1: num 16, irq 2, pfn 0 (little-endian u16, u16, u32)
        assertArrayEquals(new byte[] {64, 0, 1, 0, 0, 0, 0, 0}, Arrays.copyOfRange(page, 5, 13));
        assertArrayEquals(new byte[] {16, 0, 2, 0, 0, 0, 0, 0}, Arrays.copyOfRange(page, 13, 21));
        assertArrayEquals(LguestDeviceDesc.featureBytes(two.features(), 8), Arrays.copyOfRange(page, 21, 29));
        assertEquals(1, page[21 + 4], "VERSION_1 (bit 32) is bit 0 of feature byte 4");
        assertArrayEquals(new byte[8], Arrays.copyOfRange(page, 29, 37), "guest features start at zero");
        assertArrayEquals(two.config(), Arrays.copyOfRange(page, 37, 41));
        // echo1 right behind it, its one queue numbered after echo0's
        assertEquals(EchoDevice.TYPE, Byte.toUnsignedInt(page[41]));
        assertArrayEquals(new byte[] {64, 0, 3, 0, 0, 0, 0, 0}, Arrays.copyOfRange(page, 46, 54));
        assertEquals(0, page[41 + LguestDeviceDesc.size(1, 8, 4)], "type 0 ends the list");
        assertEquals(List.of(RAM, RAM + 41), DevicePage.scan(mem, RAM, LguestRing.PAGE_SIZE));
        assertEquals(List.of("echo0", "echo1"), bus.deviceNames());
        assertEquals(0, bus.status("echo0"));
    }

    @Test
    void statusWritesNegotiateAndDriverOkStartsTheQueuesOnTheirEventfds() throws Exception {
        EchoDevice echo = new EchoDevice(2);
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        assertEquals(FEATURES, d.hostFeatures());
        d.boot(FEATURES, 16);

        assertEquals(OK, d.status());
        assertEquals(OK, bus.status("echo0"));
        assertEquals(1, echo.starts.get());
        assertEquals(FEATURES, echo.context().features());
        assertEquals(List.of("reset -> ACKNOWLEDGE", "ACKNOWLEDGE -> ACKNOWLEDGE|DRIVER",
                        "ACKNOWLEDGE|DRIVER -> ACKNOWLEDGE|DRIVER|FEATURES_OK",
                        "ACKNOWLEDGE|DRIVER|FEATURES_OK -> ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK"),
                events(EventKind.STATUS).stream().map(Event::detail).toList());
        // LHREQ_EVENTFD for each queue, at the address the guest will notify: pfn * 4096.
        List<LhReq.EventFd> fds = requests.stream().filter(r -> r instanceof LhReq.EventFd)
                .map(r -> (LhReq.EventFd) r).toList();
        assertEquals(List.of(16L * 4096, 18L * 4096), fds.stream().map(LhReq.EventFd::address).toList());
        assertTrue(fds.stream().allMatch(f -> f.fd() >= 0));
        List<QueueState> qs = bus.queues("echo0");
        assertEquals(List.of(64, 16), qs.stream().map(QueueState::size).toList());
        assertEquals(List.of(16L * 4096, 18L * 4096), qs.stream().map(QueueState::descAddr).toList());
        assertEquals(2, deviceThreads("echo0"));
        assertEquals(List.of(RAM, RAM, RAM, RAM), exits, "only status changes entered the launcher");
    }

    @Test
    void aKickGoesStraightToTheEventfdAndTheAnswerRaisesTheQueuesIrq() throws Exception {
        EchoDevice echo = new EchoDevice(2);
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        d.boot(FEATURES, 16);
        exits.clear();

        assertArrayEquals(ascii("hello"), d.echo(1, ascii("hello"), 0x80000));
        Await.until("LHREQ_IRQ 2 among the requests", () -> List.copyOf(requests), r -> r.contains(new LhReq.Irq(2)));
        assertEquals(List.of(), exits, "the kick never entered the launcher");
        assertFalse(requests.contains(new LhReq.Irq(1)), "queue 0 did nothing");
        QueueState q1 = bus.queues("echo0").get(1);
        assertEquals(1, q1.availIdx());
        assertEquals(1, q1.usedIdx());
        assertEquals(1, q1.counters().kicks());
        assertEquals(1, q1.counters().interrupts());
        Event irq = events(EventKind.INTERRUPT).getFirst();
        assertEquals(1, irq.queue());
        assertEquals("irq 2", irq.detail());
    }

    @Test
    void featuresTheDeviceDidNotOfferAreRefusedByClearingFeaturesOk() {
        EchoDevice echo = new EchoDevice(1);
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        d.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        d.ackFeatures(FEATURES | Features.bit(40));
        d.setStatus(d.status() | DeviceStatus.FEATURES_OK);

        assertEquals(0, d.status() & DeviceStatus.FEATURES_OK, "FEATURES_OK did not stick (section 3.1.1)");
        assertTrue(events(EventKind.DEVICE_ERROR).getFirst().detail().contains("not offered"));
        d.setStatus(d.status() | DeviceStatus.DRIVER_OK); // a driver that ignores the refusal
        assertEquals(0, echo.starts.get());
        assertTrue(requests.stream().noneMatch(r -> r instanceof LhReq.EventFd), "no queue was started");
    }

    @Test
    void configWritesReachTheDeviceAndHostChangesReachThePageWithAnInterrupt() throws Exception {
        EchoDevice echo = new EchoDevice(1);
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        d.boot(FEATURES, 16);
        long cfg = d.configAddress();

        mem.writeU8(cfg, 9);        // writable
        mem.writeU8(cfg + 2, 1);    // read-only: the device keeps 0x55
        hv.notify(d.desc);
        assertEquals(9, echo.config()[0]);
        assertEquals(0x55, mem.readU8(cfg + 2), "the page shows what the device kept");

        echo.changeConfig(42);
        assertEquals(42, mem.readU8(cfg + 1));
        assertTrue(hv.interrupts().await(d.vqIrq(0), TimeUnit.SECONDS.toNanos(1)), "config change interrupt");
    }

    @Test
    void resetStopsTheQueuesAndTheDeviceCanStartAgain() throws Exception {
        EchoDevice echo = new EchoDevice(2);
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        d.boot(FEATURES, 16);
        assertArrayEquals(ascii("one"), d.echo(0, ascii("one"), 0x80000));

        d.setStatus(0);
        assertEquals(1, echo.resets.get());
        assertEquals(0, deviceThreads("echo0"));
        assertEquals(List.of(), bus.queues("echo0"));
        assertTrue(requests.contains(new LhReq.EventFd(16L * 4096, -1)), "eventfd unregistered");
        assertTrue(requests.contains(new LhReq.EventFd(18L * 4096, -1)));
        hv.notify(16L * 4096); // the old ring's address now means nothing
        assertTrue(events(EventKind.HOST_WARNING).getFirst().detail().contains("neither a queue nor a device"));

        d.boot(FEATURES, 32);
        assertEquals(2, echo.starts.get());
        assertArrayEquals(ascii("two"), d.echo(0, ascii("two"), 0x80000));
        assertEquals(2, deviceThreads("echo0"));
    }

    @Test
    void aDeviceThatThrowsIsMarkedNeedsResetAndTheOtherDeviceGoesOn() throws Exception {
        bus(new EchoDevice(1), new EchoDevice(1));
        PageDriver bad = new PageDriver(mem, hv, RAM);
        PageDriver good = new PageDriver(mem, hv, DevicePage.scan(mem, RAM, LguestRing.PAGE_SIZE).get(1));
        bad.boot(FEATURES, 16);
        good.boot(FEATURES, 32);

        bad.offer(0, ascii("boom"), 0x80000);
        Await.until("NEEDS_RESET in the page's status", bad::status, st -> (st & DeviceStatus.NEEDS_RESET) != 0);
        assertEquals(OK | DeviceStatus.NEEDS_RESET, bus.status("echo0"));
        Event error = events(EventKind.DEVICE_ERROR).getFirst();
        assertEquals("echo0", error.device());
        assertTrue(error.detail().contains("exploded"), error.detail());

        assertArrayEquals(ascii("still here"), good.echo(0, ascii("still here"), 0x90000));
        assertEquals(OK, bus.status("echo1"));

        bad.setStatus(OK); // rewriting the status does not clear NEEDS_RESET; only a reset does
        assertEquals(OK | DeviceStatus.NEEDS_RESET, bad.status());
        bad.setStatus(0);
        bad.boot(FEATURES, 48);
        assertArrayEquals(ascii("back"), bad.echo(0, ascii("back"), 0x80000), "a reset device works again");
    }

    @Test
    void aDriverThatClearsStatusBitsCannotStartTheQueuesTwice() throws Exception {
        EchoDevice echo = new EchoDevice(2);
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        d.boot(FEATURES, 16);

        d.setStatus(OK & ~DeviceStatus.DRIVER_OK);
        d.setStatus(OK);
        assertEquals(1, echo.starts.get());
        assertEquals(2, deviceThreads("echo0"), "no second set of device threads");
        assertEquals(2, requests.stream().filter(r -> r instanceof LhReq.EventFd).count());
        assertTrue((d.status() & DeviceStatus.NEEDS_RESET) != 0);
        assertTrue(events(EventKind.DEVICE_ERROR).getFirst().detail().contains("cleared"));
    }

    @Test
    void aDeviceThatFailsToStartIsMarkedNeedsResetInsteadOfThrowingAtTheGuest() {
        EchoDevice echo = new EchoDevice(1);
        echo.failStart = new IllegalStateException("no backend");
        bus(echo);
        PageDriver d = new PageDriver(mem, hv, RAM);
        d.boot(FEATURES, 16); // returns: the hypercall does not fail
        assertTrue((d.status() & DeviceStatus.NEEDS_RESET) != 0);
        assertTrue(events(EventKind.DEVICE_ERROR).getFirst().detail().contains("no backend"));
    }

    @Test
    void ringsMustLieInGuestRamNotInTheDevicePage() throws Exception {
        bus(new EchoDevice(1), new EchoDevice(1), new EchoDevice(1));
        List<Long> descs = DevicePage.scan(mem, RAM, LguestRing.PAGE_SIZE);
        long lastPfn = RAM / LguestRing.PAGE_SIZE - 1;
        // A 64-entry ring takes two pages: it fits in the last two pages of RAM; one page higher
        // its used ring would be in the device page.
        PageDriver fits = new PageDriver(mem, hv, descs.get(0));
        fits.boot(FEATURES, lastPfn - 1);
        assertEquals(OK, fits.status());
        assertArrayEquals(ascii("edge"), fits.echo(0, ascii("edge"), 0x80000));

        // Only the pfns are written: a ring really set up there would overwrite the page itself.
        PageDriver straddles = new PageDriver(mem, hv, descs.get(1));
        straddles.negotiate(FEATURES);
        straddles.writePfn(0, lastPfn);
        straddles.setStatus(straddles.status() | DeviceStatus.DRIVER_OK);
        assertTrue((straddles.status() & DeviceStatus.NEEDS_RESET) != 0);

        PageDriver inPage = new PageDriver(mem, hv, descs.get(2));
        inPage.negotiate(FEATURES);
        inPage.writePfn(0, RAM / LguestRing.PAGE_SIZE);
        inPage.setStatus(inPage.status() | DeviceStatus.DRIVER_OK);
        assertTrue((inPage.status() & DeviceStatus.NEEDS_RESET) != 0);
        assertEquals(2, events(EventKind.DEVICE_ERROR).stream()
                .filter(e -> e.detail().contains("not inside guest RAM")).count());
    }

    @Test
    void aPluggedDeviceGoesWhereTheTerminatorWasWithTheNextIrqs() throws Exception {
        bus(new EchoDevice(2));
        EchoDevice plugged = new EchoDevice(1);
        long desc = bus.plug("echo1", plugged);

        assertEquals(RAM + 41, desc, "right behind echo0's 41 bytes");
        assertEquals(List.of(3), bus.irqs("echo1"), "echo0 has irqs 1 and 2");
        assertEquals(0, mem.readU8(desc + LguestDeviceDesc.size(1, 8, 4)), "the terminator moved down");
        assertEquals(List.of(RAM, desc), DevicePage.scan(mem, RAM, LguestRing.PAGE_SIZE));
        assertEquals(List.of("echo0", "echo1"), bus.deviceNames());
        PageDriver d = new PageDriver(mem, hv, desc);
        d.boot(FEATURES, 16);
        assertArrayEquals(ascii("plugged"), d.echo(0, ascii("plugged"), 0x80000));
        assertEquals(1, events(EventKind.INTERRUPT).size());
        assertEquals("irq 3", events(EventKind.INTERRUPT).getFirst().detail());
    }

    @Test
    void anUnpluggedDeviceIsClosedItsDescriptorMarkedAndItsNotifiesRefused() throws Exception {
        bus(new EchoDevice(1));
        EchoDevice plugged = new EchoDevice(2);
        long desc = bus.plug("echo1", plugged);
        PageDriver d = new PageDriver(mem, hv, desc);
        d.boot(FEATURES, 16);
        byte[] before = mem.read(desc, LguestDeviceDesc.size(2, 8, 4));

        bus.unplug("echo1");
        assertTrue(plugged.closed);
        assertEquals(0, deviceThreads("echo1"));
        assertTrue(requests.contains(new LhReq.EventFd(16L * 4096, -1)), "its rings' eventfds unregistered");
        assertEquals(LguestDeviceDesc.TYPE_REMOVED, mem.readU8(desc));
        assertArrayEquals(Arrays.copyOfRange(before, 1, before.length), mem.read(desc + 1, before.length - 1),
                "the descriptor keeps its place and size");
        assertEquals(List.of(RAM), DevicePage.scan(mem, RAM, LguestRing.PAGE_SIZE));
        assertEquals(List.of("echo0"), bus.deviceNames());

        d.setStatus(DeviceStatus.ACKNOWLEDGE);
        assertFalse(bus.handleNotify(desc), "a status write on a removed descriptor is refused");
        assertEquals(String.format("guest notified 0x%x, which is neither a queue nor a device", desc),
                events(EventKind.HOST_WARNING).getFirst().detail());
        assertEquals(1, plugged.starts.get(), "started once, at its boot, never again");

        long again = bus.plug("echo1", new EchoDevice(1));
        assertEquals(desc + before.length, again, "a name is free again; the removed descriptor keeps its bytes");
        assertEquals(List.of(4), bus.irqs("echo1"), "irqs 2 and 3 are not given out again");
    }

    @Test
    void aPlugThatDoesNotFitChangesNothing() {
        bus(new EchoDevice(1));
        byte[] page = mem.read(RAM, LguestRing.PAGE_SIZE);
        EchoDevice big = new EchoDevice(200), more = new EchoDevice(30);
        bus.plug("big", big);
        byte[] withBig = mem.read(RAM, LguestRing.PAGE_SIZE);
        assertFalse(Arrays.equals(page, withBig));

        var irqs = assertThrows(IllegalStateException.class, () -> bus.plug("more", more));
        assertEquals(guest + " has too few irqs left for more: its queues need 30, 22 are left (a guest has irqs 0 to 223;"
                + " those of unplugged devices are not given out again)", irqs.getMessage());
        var taken = assertThrows(IllegalArgumentException.class, () -> bus.plug("big", new EchoDevice(1)));
        assertEquals(guest + " already has a device big", taken.getMessage());
        assertArrayEquals(withBig, mem.read(RAM, LguestRing.PAGE_SIZE));
        assertEquals(List.of("echo0", "big"), bus.deviceNames());
        assertFalse(more.closed, "a device the bus did not take is still its caller's");
    }

    @Test
    void closeStopsEveryThreadAndReleasesDevicesAndEventfds() throws Exception {
        Footprint opened = Footprint.take();
        EchoDevice a = new EchoDevice(2), b = new EchoDevice(1);
        bus(a, b);
        new PageDriver(mem, hv, RAM).boot(FEATURES, 16);
        new PageDriver(mem, hv, DevicePage.scan(mem, RAM, LguestRing.PAGE_SIZE).get(1)).boot(FEATURES, 32);
        assertEquals(3, opened.newFds().size(), () -> "one eventfd per queue and nothing else: " + opened.newFds());
        assertEquals(3, opened.newFdsOf("anon_inode:[eventfd]"), () -> "one eventfd per queue: " + opened.newFds());
        assertEquals(3, deviceThreads("echo0") + deviceThreads("echo1"), "one device thread per queue");

        bus.close();
        assertEquals(0, deviceThreads("echo0") + deviceThreads("echo1"));
        assertTrue(a.closed && b.closed);
        assertEquals(List.of(), opened.newFds(), "close() closed the bus's eventfds");
        bus = null;
    }
}

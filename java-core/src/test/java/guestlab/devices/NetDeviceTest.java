package guestlab.devices;

import guestlab.testing.Await;
import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.net.NetSpec;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class NetDeviceTest {
    private static byte[] frame(byte[] dst, byte[] src, int payload) {
        byte[] f = new byte[14 + payload];
        System.arraycopy(dst, 0, f, 0, 6);
        System.arraycopy(src, 0, f, 6, 6);
        Arrays.fill(f, 14, f.length, (byte) 0x42);
        return f;
    }

    @Test
    void framesCrossTheSwitchWithTheVersion1Header() throws Exception {
        EthernetSwitch sw = new EthernetSwitch("t");
        byte[] macA = NetDevice.parseMac("52:54:00:00:00:01"), macB = NetDevice.parseMac("52:54:00:00:00:02");
        try (DeviceHarness a = new DeviceHarness(new NetDevice(macA, sw));
             DeviceHarness b = new DeviceHarness(new NetDevice(macB, sw))) {
            assertEquals("52:54:00:00:00:02", NetDevice.formatMac(Arrays.copyOf(b.device.config(), 6)));
            assertEquals(1, b.device.config()[NetSpec.CFG_STATUS], "link up");
            Buffer rx = b.buffer(2048);
            b.drivers[0].add(List.of(), List.of(rx));
            byte[] f = frame(macB, macA, 100);
            byte[] packet = new byte[12 + f.length];
            System.arraycopy(f, 0, packet, 12, f.length);
            a.send(1, List.of(a.buffer(packet)), List.of());
            DriverQueue.Used u = b.drivers[0].pollUsed();
            assertNotNull(u);
            assertEquals(12 + f.length, u.len());
            byte[] got = b.mem.read(rx.addr(), u.len());
            assertEquals(1, got[NetSpec.HDR_NUM_BUFFERS], "num_buffers = 1");
            assertArrayEquals(new byte[10], Arrays.copyOf(got, 10), "no offloads: the rest of the header is zero");
            assertArrayEquals(f, Arrays.copyOfRange(got, 12, got.length));
        }
    }

    @Test
    void theSwitchLearnsAndFloods() {
        EthernetSwitch sw = new EthernetSwitch("learn");
        List<List<byte[]>> inbox = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        EthernetSwitch.Port[] ports = new EthernetSwitch.Port[3];
        for (int i = 0; i < 3; i++) {
            List<byte[]> box = inbox.get(i);
            ports[i] = sw.join(box::add);
        }
        byte[][] mac = {{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 3}};
        ports[0].send(frame(mac[1], mac[0], 1)); // b unknown: flooded to b and c
        assertEquals(1, inbox.get(1).size());
        assertEquals(1, inbox.get(2).size());
        assertEquals(0, inbox.get(0).size(), "never back to the sender");
        ports[1].send(frame(mac[0], mac[1], 1)); // a learned: only a
        assertEquals(1, inbox.get(0).size());
        assertEquals(1, inbox.get(2).size(), "c does not see a unicast for a");
        ports[2].send(frame(new byte[] {-1, -1, -1, -1, -1, -1}, mac[2], 1));
        assertEquals(2, inbox.get(0).size());
        assertEquals(2, inbox.get(1).size());
        ports[0].send(new byte[10]);
        assertEquals(1, sw.dropped(), "runt frame dropped");
        assertEquals(1, sw.forwarded());
        assertEquals(2, sw.flooded());
        ports[0].close();
        ports[1].send(frame(mac[0], mac[1], 1)); // a has left: flooded to c only
        assertEquals(2, inbox.get(0).size());
        assertEquals(2, inbox.get(2).size());
    }

    @Test
    void aFullBacklogDropsWithoutBlockingTheSender() throws Exception {
        EthernetSwitch sw = new EthernetSwitch("flood");
        byte[] macA = NetDevice.parseMac("52:54:00:00:00:0a");
        try (DeviceHarness deaf = new DeviceHarness(new NetDevice(NetDevice.parseMac("52:54:00:00:00:0b"), sw))) {
            EthernetSwitch.Port sender = sw.join(f -> {});
            long t0 = System.nanoTime();
            for (int i = 0; i < NetDevice.BACKLOG + 50; i++) sender.send(frame(new byte[] {-1, -1, -1, -1, -1, -1}, macA, 60));
            assertTrue(System.nanoTime() - t0 < 2_000_000_000L);
            assertEquals(50, deaf.warnings.stream().filter(w -> w.contains("backlog full")).count());
        }
    }

    @Test
    void aTooSmallRxBufferDropsTheFrameAndReturnsTheBufferEmpty() throws Exception {
        EthernetSwitch sw = new EthernetSwitch("small");
        try (DeviceHarness h = new DeviceHarness(new NetDevice(NetDevice.parseMac("52:54:00:00:00:0c"), sw))) {
            h.drivers[0].add(List.of(), List.of(h.buffer(40)));
            sw.join(f -> {}).send(frame(new byte[] {-1, -1, -1, -1, -1, -1}, new byte[] {2, 0, 0, 0, 0, 9}, 200));
            assertEquals(0, h.drivers[0].pollUsed().len());
            assertTrue(h.warnings.getFirst().contains("too small"));
        }
    }

    @Test
    void linkDownShowsInConfigAndCarriesNothing() throws Exception {
        EthernetSwitch sw = new EthernetSwitch("link");
        NetDevice dev = new NetDevice(NetDevice.parseMac("52:54:00:00:00:0d"), sw);
        try (DeviceHarness h = new DeviceHarness(dev)) {
            h.drivers[0].add(List.of(), List.of(h.buffer(2048)));
            dev.setLinkUp(false);
            assertEquals(0, dev.config()[NetSpec.CFG_STATUS]);
            sw.join(f -> {}).send(frame(new byte[] {-1, -1, -1, -1, -1, -1}, new byte[] {2, 0, 0, 0, 0, 9}, 50));
            assertNull(h.drivers[0].pollUsed(), "no frames while the link is down");
            dev.setLinkUp(true);
            assertEquals(NetSpec.S_LINK_UP, dev.config()[NetSpec.CFG_STATUS]);
        }
    }

    @Test
    void anInjectedFrameArrivesAsIfFromTheWireOrSaysWhyItCannot() throws Exception {
        NetDevice dev = new NetDevice(NetDevice.parseMac("52:54:00:00:00:0e"), new EthernetSwitch("inject"));
        byte[] f = frame(dev.mac(), new byte[] {2, 0, 0, 0, 0, 9}, 46);
        assertTrue(assertThrows(IllegalStateException.class, () -> dev.inject(f)).getMessage().contains("no driver"));
        try (DeviceHarness h = new DeviceHarness(dev)) {
            Buffer rx = h.buffer(2048);
            h.drivers[0].add(List.of(), List.of(rx));
            dev.inject(f);
            DriverQueue.Used u = Await.present("the device to fill the posted buffer", h.drivers[0]::pollUsed);
            assertArrayEquals(f, h.mem.read(rx.addr() + 12, u.len() - 12));

            assertThrows(IllegalArgumentException.class, () -> dev.inject(new byte[13]));
            assertThrows(IllegalArgumentException.class, () -> dev.inject(new byte[NetSpec.MAX_FRAME + 1]));
            dev.setLinkUp(false);
            assertTrue(assertThrows(IllegalStateException.class, () -> dev.inject(f)).getMessage().contains("link is down"));
        }
    }
}

package guestlab.engine.sim;

import guestlab.devices.EthernetSwitch;
import guestlab.engine.DeviceFactory;
import guestlab.events.EventBus;
import guestlab.lguest.DevicePage;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LhReq;
import guestlab.memory.MemfdMemory;
import guestlab.transport.lguest.LguestBus;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.VirtioDevice;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** A device that takes requests and never answers: the simulated driver gives up and says who. */
class SilentDeviceTest {
    /** Looks like an rng to the guest, but never returns a buffer. */
    private static final class SilentRng implements VirtioDevice {
        @Override public int type() { return DeviceType.RNG; }
        @Override public long features() { return Features.RING_COMMON; }
        @Override public int queueCount() { return 1; }
        @Override public int maxQueueSize(int index) { return 16; }
        @Override public byte[] config() { return new byte[0]; }
        @Override public void start(DeviceContext context) {}
        @Override public void handle(int index) {}
        @Override public void reset() {}
    }

    @Test
    void aDeviceThatNeverAnswersTimesOutNamingTheDeviceAndQueue() {
        long ram = 1 << 20;
        MemfdMemory mem = MemfdMemory.allocate("silent", ram + LguestRing.PAGE_SIZE);
        EventBus events = new EventBus(256);
        SimHypervisor hv = new SimHypervisor("silent", mem, events);
        hv.request(new LhReq.Initialize(0, ram / LguestRing.PAGE_SIZE, 0));
        LguestBus bus = new LguestBus("silent", mem, ram, new DevicePage(mem, ram, LguestRing.PAGE_SIZE), hv, events,
                Map.of("rng0", new SilentRng()));
        hv.onExit(bus::handleNotify);
        SimGuest g = new SimGuest("silent", mem, hv, bus, events, new DeviceFactory("silent", events, EthernetSwitch::new), List.of(),
                Duration.ofMillis(200));
        try {
            g.boot();
            long t0 = System.nanoTime();
            SimTimeoutException e = assertThrows(SimTimeoutException.class, () -> g.rng("rng0").read(8));
            assertTrue(System.nanoTime() - t0 >= 200_000_000L, "waited the whole timeout");
            assertTrue(e.getMessage().startsWith("rng0 queue 0: the device did not answer within"), e.getMessage());

            var unknown = assertThrows(IllegalArgumentException.class, () -> g.block("disk"));
            assertTrue(unknown.getMessage().contains("[rng0]"), unknown.getMessage());
            var noHost = assertThrows(IllegalArgumentException.class, () -> g.hostConsole("rng0"));
            assertTrue(noHost.getMessage().contains("no buffer host console"), noHost.getMessage());
        } finally {
            g.stop();
        }
    }
}

package guestlab.devices;

import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class RngDeviceTest {
    @Test
    void fillsEveryWritableBufferWithFreshBytes() throws Exception {
        try (DeviceHarness h = new DeviceHarness(new RngDevice())) {
            Buffer a = h.buffer(256), b = h.buffer(256);
            DriverQueue.Used u = h.send(0, List.of(), List.of(a, b));
            assertEquals(512, u.len());
            byte[] x = h.mem.read(a.addr(), 256), y = h.mem.read(b.addr(), 256);
            assertFalse(Arrays.equals(x, y));
            assertFalse(Arrays.equals(new byte[256], x));
            assertEquals(1, h.interrupts);
        }
    }

    @Test
    void aChainWithNothingToWriteComesBackEmpty() throws Exception {
        try (DeviceHarness h = new DeviceHarness(new RngDevice())) {
            assertEquals(0, h.send(0, List.of(h.buffer(8)), List.of()).len());
        }
    }
}

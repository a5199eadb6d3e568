package guestlab.devices;

import guestlab.events.EventBus;
import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemory;
import guestlab.memory.MemfdMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.Features;
import guestlab.virtio.QueueId;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * A device on a bench: real memfd guest memory, driver and device ends of each queue, and a
 * context that runs the device synchronously, so a test can send any chain it likes.
 */
final class DeviceHarness implements DeviceContext, AutoCloseable {
    final MemfdMemory mem = MemfdMemory.allocate("harness", 4 << 20);
    final VirtioDevice device;
    final long features;
    final DriverQueue[] drivers;
    final DeviceQueue[] queues;
    final List<String> warnings = new ArrayList<>();
    int interrupts;
    private long next = 1 << 20; // buffers from 1 MiB up

    DeviceHarness(VirtioDevice device) throws RingFault {
        this.device = device;
        this.features = device.features() & (Features.bit(Features.VERSION_1) | Features.bit(Features.RING_EVENT_IDX)
                | 0xffffffL);
        int n = device.queueCount();
        drivers = new DriverQueue[n];
        queues = new DeviceQueue[n];
        for (int q = 0; q < n; q++) {
            VringLayout ring = VringLayout.contiguous(device.maxQueueSize(q), 0x10000L * (q + 1), 4096);
            drivers[q] = new DriverQueue(mem, ring, features);
            queues[q] = new DeviceQueue(mem, ring, features, new QueueId("bench", "dev", q), new EventBus(64),
                    new QueueCounters());
        }
        device.start(this);
    }

    /** A guest buffer holding {@code bytes}. */
    Buffer buffer(byte[] bytes) {
        Buffer b = buffer(bytes.length);
        mem.write(b.addr(), bytes);
        return b;
    }

    Buffer buffer(int len) {
        long at = next;
        next += (len + 4095) & ~4095L;
        return new Buffer(at, len);
    }

    /** Offers a chain on queue {@code q} and runs the device; returns the used entry, or null. */
    DriverQueue.Used send(int q, List<Buffer> out, List<Buffer> in) throws RingFault {
        drivers[q].add(out, in);
        device.handle(q);
        return drivers[q].pollUsed();
    }

    @Override
    public GuestMemory memory() {
        return mem;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public DeviceQueue queue(int index) {
        return queues[index];
    }

    @Override
    public void used(int index) {
        if (queues[index].needsInterrupt()) interrupts++;
    }

    @Override
    public synchronized void wake(int index) {
        try {
            device.handle(index);
        } catch (RingFault e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public void configChanged() {}

    @Override
    public void warn(int index, String message) {
        warnings.add(message);
    }

    @Override
    public void close() {
        device.close();
        mem.close();
    }
}

package guestlab.bench;

import guestlab.events.EventBus;
import guestlab.events.QueueCounters;
import guestlab.memory.MemfdMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.Features;
import guestlab.virtio.QueueId;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.List;

/**
 * The ring alone: one thread plays driver and device on a 256-entry split virtqueue in memfd
 * guest memory (EVENT_IDX on), one out and one in buffer per chain, with every validation the
 * device does on a hostile guest's ring. No threads, no eventfds: the floor under a round trip.
 */
@State(Scope.Thread)
public class RingRoundTripBench {
    private MemfdMemory mem;
    private DriverQueue driver;
    private DeviceQueue device;
    private final List<Buffer> out = List.of(new Buffer(0x10000, 16));
    private final List<Buffer> in = List.of(new Buffer(0x11000, 512));

    @Setup(Level.Trial)
    public void setUp() throws RingFault {
        mem = MemfdMemory.allocate("bench", 1 << 20);
        VringLayout ring = VringLayout.contiguous(256, 0, 4096);
        long features = Features.bit(Features.RING_EVENT_IDX) | Features.bit(Features.VERSION_1);
        driver = new DriverQueue(mem, ring, features);
        device = new DeviceQueue(mem, ring, features, new QueueId("bench", "ring", 0), new EventBus(16),
                new QueueCounters());
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        mem.close();
    }

    @Benchmark
    public int roundTrip() throws RingFault {
        driver.add(out, in);
        DescriptorChain chain = device.pop();
        device.push(chain, 512);
        device.needsInterrupt();
        return driver.pollUsed().len();
    }
}

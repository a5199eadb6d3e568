package guestlab.virtio;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.events.QueueCounters;
import guestlab.events.Subscription;
import guestlab.memory.MemfdMemory;
import guestlab.virtio.driver.DriverQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The split virtqueue with well-behaved drivers: round trips, wraparound, notification suppression. */
class DeviceQueueTest {
    private final MemfdMemory mem = MemfdMemory.allocate("queue", 1 << 20);
    private static final long OUT = 0x10000, IN = 0x11000, TABLE = 0x12000;

    @AfterEach
    void free() throws Exception {
        mem.close();
    }

    private DeviceQueue device(VringLayout ring, long features) throws RingFault {
        return new DeviceQueue(mem, ring, features, new QueueId("t", "d", 0), new EventBus(16), new QueueCounters());
    }

    /** One request through the ring: the device echoes the out buffer, +1 per byte, into the in buffer. */
    private void roundTrip(DriverQueue drv, DeviceQueue dev, int n, boolean indirect) throws RingFault {
        byte[] payload = new byte[16];
        for (int i = 0; i < 16; i++) payload[i] = (byte) (n + i);
        mem.write(OUT, payload);
        List<Buffer> out = List.of(new Buffer(OUT, 16));
        List<Buffer> in = List.of(new Buffer(IN, 8), new Buffer(IN + 8, 8));
        int head = indirect ? drv.addIndirect(out, in, TABLE) : drv.add(out, in);
        assertTrue(head >= 0);
        DescriptorChain chain = dev.pop();
        assertNotNull(chain);
        assertEquals(head, chain.head());
        assertEquals(16, chain.readableLength());
        assertEquals(16, chain.writableLength());
        byte[] got = chain.readBytes(mem, 0, 16);
        for (int i = 0; i < 16; i++) got[i]++;
        assertEquals(16, chain.writeBytes(mem, 0, got, 0, 16));
        dev.push(chain, 16);
        DriverQueue.Used used = drv.pollUsed();
        assertEquals(new DriverQueue.Used(head, 16), used);
        byte[] back = mem.read(IN, 16);
        for (int i = 0; i < 16; i++) assertEquals((byte) (n + i + 1), back[i]);
        assertNull(dev.pop());
        assertNull(drv.pollUsed());
    }

    @Test
    void roundTripsWithAndWithoutEventIdxAndIndirect() throws RingFault {
        long[] featureSets = {0, Features.bit(Features.RING_EVENT_IDX),
                Features.bit(Features.RING_INDIRECT_DESC) | Features.bit(Features.RING_EVENT_IDX)};
        for (long f : featureSets) {
            VringLayout ring = VringLayout.contiguous(16, 0, 4096);
            DriverQueue drv = new DriverQueue(mem, ring, f);
            DeviceQueue dev = device(ring, f);
            boolean indirect = Features.has(f, Features.RING_INDIRECT_DESC);
            for (int n = 0; n < 40; n++) roundTrip(drv, dev, n, indirect && n % 2 == 0);
            assertEquals(16, drv.freeDescriptors(), "every descriptor came back");
        }
    }

    @Test
    void indicesWrapAt65536() throws RingFault {
        VringLayout ring = VringLayout.contiguous(4, 0, 4096);
        long f = Features.bit(Features.RING_EVENT_IDX);
        DriverQueue drv = new DriverQueue(mem, ring, f);
        DeviceQueue dev = device(ring, f);
        for (int n = 0; n < 70_000; n++) roundTrip(drv, dev, n, false);
        assertEquals(70_000 & 0xffff, mem.readU16(ring.availIdx()));
        assertEquals(70_000 & 0xffff, mem.readU16(ring.usedIdx()));
        assertEquals(70_000 & 0xffff, dev.state().lastAvail());
        assertEquals(70_000, dev.counters().completions.get());
    }

    @Test
    void aDeviceJoiningNearTheWrapPicksUpWhereTheRingIs() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        RawRing raw = new RawRing(mem, ring);
        mem.writeU16(ring.usedIdx(), 65534);
        raw.availIdx = 65534;
        DeviceQueue dev = device(ring, 0);
        for (int i = 0; i < 4; i++) {
            raw.desc(i, OUT, 4, RawRing.WRITE, 0).offer(i);
        }
        assertEquals(2, raw.availIdx, "avail.idx wrapped past 65535");
        for (int i = 0; i < 4; i++) {
            DescriptorChain c = dev.pop();
            assertEquals(i, c.head());
            dev.push(c, 4);
        }
        assertNull(dev.pop());
        assertEquals(2, mem.readU16(ring.usedIdx()));
        // used ring slots 6, 7, 0, 1 hold heads 0..3
        assertEquals(0, mem.readU32(ring.usedElement(6) + VringLayout.USED_ELEM_ID));
        assertEquals(3, mem.readU32(ring.usedElement(1) + VringLayout.USED_ELEM_ID));
    }

    @Test
    void aSpinSeesABufferTheDriverOffersWhileItSpinsWithoutAKick() throws Exception {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        long f = Features.bit(Features.RING_EVENT_IDX);
        DriverQueue drv = new DriverQueue(mem, ring, f);
        DeviceQueue dev = device(ring, f);
        assertNull(dev.pop(), "armed: avail_event 0");
        assertFalse(dev.spinForAvailable(0), "no window, no spin");
        assertFalse(dev.spinForAvailable(1_000_000), "nothing offered in 1 ms");
        Thread driver = Thread.ofPlatform().start(() -> drv.add(List.of(), List.of(new Buffer(IN, 8))));
        assertTrue(dev.spinForAvailable(10_000_000_000L), "the buffer offered during the spin");
        driver.join();
        assertNotNull(dev.pop());
        assertEquals(0, mem.readU16(ring.availEvent()), "the spin itself moved no notification field");
    }

    @Test
    void aSpinOnABrokenRingFails() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DeviceQueue dev = device(ring, 0);
        mem.writeU16(ring.availIdx(), 9); // more than the ring holds
        assertThrows(RingFault.class, () -> dev.spinForAvailable(1_000_000));
        assertTrue(dev.isBroken());
    }

    @Test
    void eventIdxSuppressesKicksUntilTheDeviceRearms() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        long f = Features.bit(Features.RING_EVENT_IDX);
        DriverQueue drv = new DriverQueue(mem, ring, f);
        DeviceQueue dev = device(ring, f);
        List<Buffer> in = List.of(new Buffer(IN, 8));
        drv.add(List.of(), in);
        assertTrue(drv.kickNeeded(), "avail_event 0: the first buffer kicks");
        drv.add(List.of(), in);
        assertFalse(drv.kickNeeded(), "the device has not caught up: no second kick");
        dev.push(dev.pop(), 0);
        dev.push(dev.pop(), 0);
        assertNull(dev.pop());
        assertEquals(2, mem.readU16(ring.availEvent()), "pop() that found nothing wrote avail_event");
        drv.add(List.of(), in);
        assertTrue(drv.kickNeeded(), "re-armed: the next buffer kicks");
    }

    /** A device queue with EVENT_IDX over {@code ring}, after a driver offered {@code n} one-buffer chains. */
    private DeviceQueue eventIdxQueueWithOffered(VringLayout ring, int n) throws RingFault {
        long f = Features.bit(Features.RING_EVENT_IDX);
        DriverQueue drv = new DriverQueue(mem, ring, f);
        for (int i = 0; i < n; i++) drv.add(List.of(), List.of(new Buffer(IN, 8)));
        return device(ring, f);
    }

    /**
     * The race a driver without its barrier loses (QEMU's TCG with one vCPU): the device looks at
     * used_event before the driver's re-arm reaches memory, the driver looks at used.idx before the
     * device's publish does; the device holds the interrupt back and the driver waits for it.
     */
    @Test
    void anInterruptHeldBackIsSentWhenTheDriverTurnsOutToHaveReArmedTooLate() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DeviceQueue dev = eventIdxQueueWithOffered(ring, 3);
        mem.writeU16(ring.usedEvent(), 0);
        dev.push(dev.pop(), 0);
        assertTrue(dev.needsInterrupt(), "used.idx passed 0");
        assertFalse(dev.interruptHeldBack());
        // the driver took entry 0, its callbacks are off (used_event left behind) while it works
        dev.push(dev.pop(), 0);
        dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt(), "used_event 0 was passed already: no second interrupt");
        assertTrue(dev.interruptHeldBack());
        mem.writeU16(ring.usedEvent(), 1); // the re-arm that landed too late: it has seen entry 0 only
        assertTrue(dev.lateInterruptWanted(), "asked again, the driver is behind what the device published");
        assertFalse(dev.interruptHeldBack(), "asking clears it");
        assertFalse(dev.lateInterruptWanted(), "and one late interrupt is all");
    }

    @Test
    void noLateInterruptForADriverThatHasSeenEverything() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DeviceQueue dev = eventIdxQueueWithOffered(ring, 3);
        mem.writeU16(ring.usedEvent(), 5);
        for (int i = 0; i < 3; i++) dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt());
        assertTrue(dev.interruptHeldBack());
        mem.writeU16(ring.usedEvent(), 3); // it collected all three and re-armed at 3
        assertFalse(dev.lateInterruptWanted());
        assertFalse(dev.interruptHeldBack());
    }

    @Test
    void withoutEventIdxAHeldBackInterruptIsSentOnceTheDriverAllowsThem() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DriverQueue drv = new DriverQueue(mem, ring, 0);
        DeviceQueue dev = device(ring, 0);
        drv.add(List.of(), List.of(new Buffer(IN, 8)));
        mem.writeU16(ring.availFlags(), VringLayout.AVAIL_F_NO_INTERRUPT);
        dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt());
        assertFalse(dev.lateInterruptWanted(), "still NO_INTERRUPT: nothing sent, nothing held back after");
        assertFalse(dev.interruptHeldBack());
        drv.add(List.of(), List.of(new Buffer(IN, 8)));
        dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt());
        mem.writeU16(ring.availFlags(), 0);
        assertTrue(dev.lateInterruptWanted());
    }

    @Test
    void eventIdxSuppressesInterruptsUntilUsedEvent() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        long f = Features.bit(Features.RING_EVENT_IDX);
        DriverQueue drv = new DriverQueue(mem, ring, f);
        DeviceQueue dev = device(ring, f);
        List<Buffer> in = List.of(new Buffer(IN, 8));
        for (int i = 0; i < 3; i++) drv.add(List.of(), in);
        mem.writeU16(ring.usedEvent(), 2); // interrupt when used.idx passes 2
        dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt());
        dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt());
        dev.push(dev.pop(), 0);
        assertTrue(dev.needsInterrupt(), "used.idx went 2 -> 3, past used_event 2");
        assertFalse(dev.needsInterrupt(), "nothing new since");
    }

    @Test
    void noInterruptFlagSuppressesWithoutEventIdx() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DriverQueue drv = new DriverQueue(mem, ring, 0);
        DeviceQueue dev = device(ring, 0);
        drv.add(List.of(), List.of(new Buffer(IN, 8)));
        drv.add(List.of(), List.of(new Buffer(IN, 8)));
        dev.push(dev.pop(), 0);
        assertTrue(dev.needsInterrupt());
        mem.writeU16(ring.availFlags(), VringLayout.AVAIL_F_NO_INTERRUPT);
        dev.push(dev.pop(), 0);
        assertFalse(dev.needsInterrupt());
    }

    @Test
    void aSubscriberThatThrowsDoesNotStopTheQueue() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        EventBus events = new EventBus(16);
        Subscription failing = events.subscribe(e -> {
            throw new IllegalStateException("subscriber bug");
        });
        DriverQueue drv = new DriverQueue(mem, ring, 0);
        DeviceQueue dev = new DeviceQueue(mem, ring, 0, new QueueId("t", "d", 0), events, new QueueCounters());
        for (int i = 0; i < 3; i++) {
            int head = drv.add(List.of(), List.of(new Buffer(IN, 8)));
            dev.push(dev.pop(), 8);
            assertEquals(new DriverQueue.Used(head, 8), drv.pollUsed());
        }
        assertEquals(6, failing.failures(), "a REQUEST and a COMPLETION per round trip");
        assertEquals(1, events.recent().stream().filter(e -> e.kind() == EventKind.HOST_WARNING).count());
    }

    @Test
    void stateShowsPendingAndInFlight() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DriverQueue drv = new DriverQueue(mem, ring, 0);
        DeviceQueue dev = device(ring, 0);
        for (int i = 0; i < 3; i++) drv.add(List.of(), List.of(new Buffer(IN, 8)));
        DescriptorChain c = dev.pop();
        QueueState s = dev.state();
        assertEquals(3, s.availIdx());
        assertEquals(1, s.lastAvail());
        assertEquals(2, s.pending());
        assertEquals(1, s.inFlight());
        dev.push(c, 8);
        assertEquals(0, dev.state().inFlight());
        assertEquals(1, dev.state().usedIdx());
    }

    @Test
    void aHeadOfferedAgainTakesItsChainObjectWithNothingOfTheChainBefore() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        RawRing raw = new RawRing(mem, ring);
        DeviceQueue dev = device(ring, 0);
        raw.desc(0, OUT, 16, RawRing.NEXT, 1).desc(1, OUT + 16, 16, RawRing.NEXT, 2).desc(2, IN, 32, RawRing.WRITE, 0).offer(0);
        DescriptorChain first = dev.pop();
        assertEquals(2, first.readable().count());
        dev.push(first, 32);
        raw.desc(0, IN + 64, 8, RawRing.WRITE, 0).offer(0);
        DescriptorChain second = dev.pop();
        assertSame(first, second, "one chain object per head");
        assertEquals(1, second.availIndex());
        assertEquals(0, second.readable().count(), "none of the two readable buffers before");
        assertThrows(IndexOutOfBoundsException.class, () -> second.readable().addr(0));
        assertEquals(1, second.writable().count());
        assertEquals(IN + 64, second.writable().addr(0));
        assertEquals(8, second.writableLength());
    }

    @Test
    void aChainGoesBackOnceAndOnlyToItsOwnQueue() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        DriverQueue drv = new DriverQueue(mem, ring, 0);
        DeviceQueue dev = device(ring, 0);
        drv.add(List.of(), List.of(new Buffer(IN, 8)));
        DescriptorChain c = dev.pop();
        dev.push(c, 8);
        assertThrows(IllegalArgumentException.class, () -> dev.push(c, 8), "pushed twice");
        assertThrows(IllegalArgumentException.class, () -> dev.push(new DescriptorChain(0, 0, List.of(), List.of(new Buffer(IN, 8)), 0), 0),
                "not a chain this queue took");
        assertEquals(1, mem.readU16(ring.usedIdx()), "one used element");
    }

    @Test
    void serveAllShowsTheDriverItsBatchAtOnce() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        long f = Features.bit(Features.RING_EVENT_IDX);
        DriverQueue drv = new DriverQueue(mem, ring, f);
        DeviceQueue dev = device(ring, f);
        for (int i = 0; i < 3; i++) drv.add(List.of(), List.of(new Buffer(IN + 8L * i, 8)));
        List<Integer> seen = new java.util.ArrayList<>();
        assertEquals(3, dev.serveAll(chain -> {
            seen.add(mem.readU16(ring.usedIdx()));
            return 8;
        }));
        assertEquals(List.of(0, 0, 0), seen, "used.idx stays while the batch is served");
        assertEquals(3, mem.readU16(ring.usedIdx()));
        assertTrue(dev.needsInterrupt(), "one interrupt for the batch");
        for (int i = 0; i < 3; i++) assertEquals(8, drv.pollUsed().len());
    }

    @Test
    void aBatchLongerThanTheRingIsShownBeforeItsFirstElementIsWrittenOver() throws RingFault {
        VringLayout ring = VringLayout.contiguous(4, 0, 4096);
        RawRing raw = new RawRing(mem, ring);
        DeviceQueue dev = device(ring, 0);
        for (int h = 0; h < 4; h++) raw.desc(h, IN + 8L * h, 8, RawRing.WRITE, 0).offer(h);
        List<Integer> seen = new java.util.ArrayList<>();
        int[] served = {0};
        assertEquals(6, dev.serveAll(chain -> {
            seen.add(mem.readU16(ring.usedIdx()));
            // the driver offers the heads already served again while the device works
            if (served[0] == 1 || served[0] == 2) raw.offer(served[0] - 1);
            served[0]++;
            return 8;
        }));
        assertEquals(List.of(0, 0, 0, 0, 4, 4), seen, "a ring's worth shown before the fifth element takes the first's slot");
        assertEquals(6, mem.readU16(ring.usedIdx()));
    }

    @Test
    void aFullRingOfferedAcrossTheWrapComesBackInOrder() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        RawRing raw = new RawRing(mem, ring);
        mem.writeU16(ring.usedIdx(), 65532);
        raw.availIdx = 65532;
        DeviceQueue dev = device(ring, 0);
        for (int i = 0; i < 8; i++) raw.desc(i, IN + 16L * i, 16, RawRing.WRITE, 0).offer(i);
        assertEquals(4, mem.readU16(ring.availIdx()), "65532 + 8 wrapped");
        assertEquals(8, dev.state().pending());
        for (int i = 0; i < 8; i++) {
            DescriptorChain c = dev.pop();
            assertEquals(i, c.head());
            assertEquals((65532 + i) & 0xffff, c.availIndex());
            dev.push(c, 0);
        }
        assertNull(dev.pop());
        assertEquals(4, mem.readU16(ring.usedIdx()));
    }

    @Test
    void usedEventIsHonouredAcrossTheWrap() throws RingFault {
        VringLayout ring = VringLayout.contiguous(8, 0, 4096);
        RawRing raw = new RawRing(mem, ring);
        mem.writeU16(ring.usedIdx(), 0xfffe);
        raw.availIdx = 0xfffe;
        DeviceQueue dev = device(ring, Features.bit(Features.RING_EVENT_IDX));
        mem.writeU16(ring.usedEvent(), 0xffff);
        raw.desc(0, IN, 8, RawRing.WRITE, 0).offer(0).desc(1, IN, 8, RawRing.WRITE, 0).offer(1);
        dev.push(dev.pop(), 0); // used.idx fffe -> ffff
        assertFalse(dev.needsInterrupt());
        dev.push(dev.pop(), 0); // ffff -> 0: steps past used_event 0xffff
        assertTrue(dev.needsInterrupt());
    }
}

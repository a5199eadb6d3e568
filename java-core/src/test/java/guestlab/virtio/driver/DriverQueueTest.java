package guestlab.virtio.driver;

import guestlab.events.QueueCounters;
import guestlab.memory.MemfdMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.Features;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.RingFault;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The driver side distrusts its device: a used ring that breaks the rules (section 2.7.8) is a
 * typed fault that leaves the queue broken, never a crash or a freed descriptor it does not own;
 * and the queue's state reads back as the driver sees it. The "device" here is the test writing
 * the used ring by hand.
 */
class DriverQueueTest {
    private static final long EVENT_IDX = Features.bit(Features.RING_EVENT_IDX);
    private final MemfdMemory mem = MemfdMemory.allocate("driver-queue", 1 << 20);
    private final VringLayout ring = VringLayout.contiguous(8, 0x1000, 4096);
    private final QueueId id = new QueueId("t", "d", 0);

    @AfterEach
    void free() throws Exception {
        mem.close();
    }

    /** Offers one chain: 16 readable bytes, then {@code writable} writable ones; returns its head. */
    private int offer(DriverQueue q, int writable) {
        return q.add(List.of(new Buffer(0x10000, 16)), List.of(new Buffer(0x11000, writable)));
    }

    /** What a device does: the element {head, len} at the used index, then used.idx moves to {@code idx}. */
    private void deviceUses(int slot, long head, long len, int idx) {
        long e = ring.usedElement(slot);
        mem.writeU32(e + VringLayout.USED_ELEM_ID, head);
        mem.writeU32(e + VringLayout.USED_ELEM_LEN, len);
        mem.writeU16(ring.usedIdx(), idx);
    }

    private UsedRingFault brokenBy(DriverQueue q, RingFault.Reason expected) {
        UsedRingFault f = assertThrows(UsedRingFault.class, q::pollUsed);
        assertEquals(expected, f.reason(), f.getMessage());
        assertEquals(expected, q.fault());
        UsedRingFault again = assertThrows(UsedRingFault.class, q::pollUsed, "the queue stays broken");
        assertEquals(RingFault.Reason.QUEUE_BROKEN, again.reason());
        assertEquals(expected, q.state(id, new QueueCounters().snapshot()).fault());
        return f;
    }

    @Test
    void aWellBehavedDeviceIsCollectedAndTheStateSaysSo() {
        DriverQueue q = new DriverQueue(mem, ring, EVENT_IDX);
        int a = offer(q, 8), b = offer(q, 8);
        mem.writeU16(ring.availEvent(), 1); // the device took one and published where it stands
        deviceUses(0, a, 8, 1);
        assertEquals(new DriverQueue.Used(a, 8), q.pollUsed());
        QueueState s = q.state(id, new QueueCounters().snapshot());
        assertEquals(List.of(2, 1, 1, 1, 1), List.of(s.availIdx(), s.lastAvail(), s.usedIdx(), s.pending(), s.inFlight()));
        assertEquals(QueueState.Side.DRIVER, s.seenFrom());
        assertNull(s.fault());
        assertEquals(1, q.lastUsed());
        assertTrue(b >= 0);
    }

    @Test
    void withoutEventIdxTheDevicesPositionIsUnknownNotInvented() {
        DriverQueue q = new DriverQueue(mem, ring, 0);
        offer(q, 8);
        QueueState s = q.state(id, new QueueCounters().snapshot());
        assertEquals(-1, s.lastAvail());
        assertEquals(-1, s.pending());
        assertEquals(1, s.inFlight());
    }

    @Test
    void aHeadThatIsNotInFlightBreaksTheQueue() {
        DriverQueue q = new DriverQueue(mem, ring, EVENT_IDX);
        int head = offer(q, 8);
        deviceUses(0, head + 1, 0, 1);
        assertTrue(brokenBy(q, RingFault.Reason.USED_HEAD_NOT_IN_FLIGHT).getMessage().contains("not in flight"));
        assertEquals(8 - 2, q.freeDescriptors(), "nothing was freed that the device did not return");
    }

    @Test
    void aHeadOutsideTheQueueBreaksIt() {
        DriverQueue q = new DriverQueue(mem, ring, 0);
        offer(q, 8);
        deviceUses(0, 0xffff_fff0L, 0, 1);
        assertTrue(brokenBy(q, RingFault.Reason.USED_HEAD_NOT_IN_FLIGHT).getMessage().contains("outside the queue of 8"));
    }

    @Test
    void aUsedIndexPastWhatIsInFlightBreaksTheQueue() {
        DriverQueue q = new DriverQueue(mem, ring, 0);
        int head = offer(q, 8);
        deviceUses(0, head, 0, 5); // five returned, one offered
        assertTrue(brokenBy(q, RingFault.Reason.USED_INDEX_TOO_FAR).getMessage().contains("only 1 chains are in flight"));
    }

    @Test
    void aLengthPastTheWritableBytesBreaksTheQueue() {
        DriverQueue q = new DriverQueue(mem, ring, 0);
        int head = offer(q, 8);
        deviceUses(0, head, 9, 1);
        assertTrue(brokenBy(q, RingFault.Reason.USED_LENGTH_TOO_LONG).getMessage().contains("offered 8 device-writable bytes"));
    }

    @Test
    void anIndirectChainsWritableBytesCountToo() {
        DriverQueue q = new DriverQueue(mem, ring, Features.bit(Features.RING_INDIRECT_DESC));
        int head = q.addIndirect(List.of(new Buffer(0x10000, 16)), List.of(new Buffer(0x11000, 8), new Buffer(0x12000, 4)), 0x13000);
        deviceUses(0, head, 12, 1);
        assertEquals(new DriverQueue.Used(head, 12), q.pollUsed());
    }
}

package guestlab.virtio;

import guestlab.memory.MemfdMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static guestlab.virtio.RawRing.INDIRECT;
import static guestlab.virtio.RawRing.NEXT;
import static guestlab.virtio.RawRing.WRITE;
import static guestlab.virtio.RingFault.Reason.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Every way a driver can break a descriptor chain: each one is a RingFault naming the rule it
 * broke that leaves the queue broken, never an access outside guest memory (which would be a
 * GuestMemoryException).
 */
class MalformedChainTest {
    private static final long MEM = 1 << 20;
    private static final long DATA = 0x10000;
    private static final long TABLE = 0x20000;
    private final long indirect = Features.bit(Features.RING_INDIRECT_DESC);
    private MemfdMemory mem;
    private RawRing raw;

    @BeforeEach
    void ring() {
        mem = MemfdMemory.allocate("malformed", MEM);
        raw = new RawRing(mem, VringLayout.contiguous(8, 0, 4096));
    }

    @AfterEach
    void free() throws Exception {
        mem.close();
    }

    /** Pops the offered chain, expects {@code expect} to break the queue for good, and returns the message. */
    private String broken(long features, RingFault.Reason expect) throws RingFault {
        DeviceQueue q = raw.device(features);
        RingFault f = assertThrows(RingFault.class, q::pop);
        assertEquals(expect, f.reason(), f.getMessage());
        assertTrue(q.isBroken());
        assertEquals(expect, q.fault());
        assertEquals(expect, q.state().fault());
        assertEquals(1, q.counters().errors.get());
        RingFault again = assertThrows(RingFault.class, q::pop, "a broken queue stays broken");
        assertEquals(RingFault.Reason.QUEUE_BROKEN, again.reason());
        RingFault push = assertThrows(RingFault.class,
                () -> q.push(new DescriptorChain(0, 0, java.util.List.of(), java.util.List.of(), 0), 0));
        assertEquals(RingFault.Reason.QUEUE_BROKEN, push.reason());
        assertEquals(expect, q.fault(), "the first rule broken stays the reason");
        return f.getMessage();
    }

    @Test
    void loop() throws RingFault {
        raw.desc(0, DATA, 16, NEXT, 1).desc(1, DATA, 16, NEXT, 0).offer(0);
        broken(0, CHAIN_LOOP);
    }

    @Test
    void chainLongerThanTheQueue() throws RingFault {
        for (int i = 0; i < 8; i++) raw.desc(i, DATA, 16, NEXT, (i + 1) % 8);
        raw.offer(3);
        broken(0, CHAIN_LOOP);
    }

    @Test
    void headOutsideTheQueue() throws RingFault {
        raw.offer(8);
        broken(0, HEAD_OUT_OF_RANGE);
    }

    @Test
    void aHeadOfferedAgainWhileItsChainIsInFlight() throws RingFault {
        raw.desc(0, DATA, 16, WRITE, 0).offer(0).offer(0);
        DeviceQueue q = raw.device(0);
        assertNotNull(q.pop());
        RingFault f = assertThrows(RingFault.class, q::pop);
        assertEquals(HEAD_IN_FLIGHT, f.reason(), f.getMessage());
        assertTrue(f.getMessage().contains("names head 0"), f.getMessage());
        assertTrue(q.isBroken());
    }

    @Test
    void nextOutsideTheTable() throws RingFault {
        raw.desc(0, DATA, 16, NEXT, 200).offer(0);
        broken(0, NEXT_OUT_OF_RANGE);
    }

    @Test
    void bufferPastGuestMemory() throws RingFault {
        raw.desc(0, MEM + 4096, 16, 0, 0).offer(0);
        broken(0, BUFFER_OUTSIDE_MEMORY);
    }

    @Test
    void lengthRunningPastGuestMemory() throws RingFault {
        raw.desc(0, MEM - 8, 16, 0, 0).offer(0);
        broken(0, BUFFER_OUTSIDE_MEMORY);
    }

    @Test
    void hugeLength() throws RingFault {
        raw.desc(0, 0, 0xffffffffL, WRITE, 0).offer(0);
        broken(0, BUFFER_OUTSIDE_MEMORY);
    }

    @Test
    void addressNearTheTopOfTheAddressSpace() throws RingFault {
        raw.desc(0, -16L, 32, 0, 0).offer(0);
        broken(0, BUFFER_OUTSIDE_MEMORY);
    }

    @Test
    void readableAfterWritable() throws RingFault {
        raw.desc(0, DATA, 16, WRITE | NEXT, 1).desc(1, DATA, 16, 0, 0).offer(0);
        broken(0, READABLE_AFTER_WRITABLE);
    }

    @Test
    void indirectWithoutTheFeature() throws RingFault {
        raw.indirect(TABLE, 0, DATA, 16, 0, 0).desc(0, TABLE, 16, INDIRECT, 0).offer(0);
        broken(0, INDIRECT_NOT_NEGOTIATED);
    }

    @Test
    void emptyIndirectTable() throws RingFault {
        raw.desc(0, TABLE, 0, INDIRECT, 0).offer(0);
        broken(indirect, INDIRECT_TABLE_SIZE);
    }

    @Test
    void indirectTableOfOddLength() throws RingFault {
        raw.desc(0, TABLE, 24, INDIRECT, 0).offer(0);
        broken(indirect, INDIRECT_TABLE_SIZE);
    }

    @Test
    void indirectTableTooLongIsCalledTooLong() throws RingFault {
        raw.desc(0, TABLE, 0xfffffff0L, INDIRECT, 0).offer(0);
        String why = broken(indirect, INDIRECT_TABLE_SIZE);
        assertTrue(why.contains("too long"), why);
        assertFalse(why.contains("multiple of 16"), why);
    }

    @Test
    void aLoopWhoseSecondLapBreaksTheOrderIsCalledALoop() throws RingFault {
        // 0 (readable) -> 1 (writable) -> 0: the second visit of 0 is also readable-after-writable.
        raw.desc(0, DATA, 16, NEXT, 1).desc(1, DATA + 16, 16, WRITE | NEXT, 0).offer(0);
        broken(0, CHAIN_LOOP);
    }

    @Test
    void readableAfterWritableWithoutALoopIsStillNamedSo() throws RingFault {
        raw.desc(0, DATA, 16, WRITE | NEXT, 1).desc(1, DATA, 16, NEXT, 2).desc(2, DATA, 16, 0, 0).offer(0);
        broken(0, READABLE_AFTER_WRITABLE);
    }

    @Test
    void indirectTableOutsideMemory() throws RingFault {
        raw.desc(0, MEM - 16, 32, INDIRECT, 0).offer(0);
        broken(indirect, INDIRECT_TABLE_OUTSIDE_MEMORY);
    }

    @Test
    void nestedIndirect() throws RingFault {
        raw.indirect(TABLE, 0, TABLE + 256, 16, INDIRECT, 0).desc(0, TABLE, 16, INDIRECT, 0).offer(0);
        broken(indirect, INDIRECT_NESTED);
    }

    @Test
    void indirectWithNext() throws RingFault {
        raw.indirect(TABLE, 0, DATA, 16, 0, 0).desc(0, TABLE, 16, INDIRECT | NEXT, 1).desc(1, DATA, 16, 0, 0).offer(0);
        broken(indirect, INDIRECT_WITH_NEXT);
    }

    @Test
    void loopInsideAnIndirectTable() throws RingFault {
        raw.indirect(TABLE, 0, DATA, 16, NEXT, 1).indirect(TABLE, 1, DATA, 16, NEXT, 0)
                .desc(0, TABLE, 32, INDIRECT, 0).offer(0);
        broken(indirect, CHAIN_LOOP);
    }

    @Test
    void availIndexRunningAheadOfTheQueue() throws RingFault {
        mem.writeU16(raw.ring.availIdx(), 9);
        broken(0, AVAIL_INDEX_TOO_FAR);
    }

    @Test
    void ringOutsideGuestMemory() {
        RawRing far = new RawRing(mem, VringLayout.contiguous(8, MEM - 4096, 4096));
        RingFault f = assertThrows(RingFault.class, () -> far.device(0));
        assertEquals(RING_OUTSIDE_MEMORY, f.reason());
    }

    @Test
    void eventIdxFieldsMustLieInsideGuestMemoryToo() throws RingFault {
        // avail_event just past the end of memory: fine without EVENT_IDX, refused with it.
        VringLayout tightUsed = new VringLayout(8, 0, 0x1000, MEM - (VringLayout.USED_RING + VringLayout.USED_ELEM_SIZE * 8L));
        assertNotNull(new RawRing(mem, tightUsed).device(0));
        assertEquals(RING_OUTSIDE_MEMORY, assertThrows(RingFault.class,
                () -> new RawRing(mem, tightUsed).device(Features.bit(Features.RING_EVENT_IDX))).reason());
        VringLayout tightAvail = new VringLayout(8, 0, MEM - (VringLayout.AVAIL_RING + VringLayout.AVAIL_ENTRY_SIZE * 8L), 0x2000);
        assertNotNull(new RawRing(mem, tightAvail).device(0));
        assertEquals(RING_OUTSIDE_MEMORY, assertThrows(RingFault.class,
                () -> new RawRing(mem, tightAvail).device(Features.bit(Features.RING_EVENT_IDX))).reason());
    }

    @Test
    void aGoodChainAfterTheSetUpStillWorks() throws RingFault {
        raw.desc(0, DATA, 16, NEXT, 1).desc(1, DATA + 16, 32, WRITE, 0).offer(0);
        DescriptorChain c = raw.device(0).pop();
        assertEquals(1, c.readable().count());
        assertEquals(1, c.writable().count());
        assertEquals(DATA + 16, c.writable().addr(0));
        assertEquals(32, c.writable().len(0));
    }
}

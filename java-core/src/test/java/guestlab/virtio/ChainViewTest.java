package guestlab.virtio;

import guestlab.memory.MemfdMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static guestlab.virtio.RawRing.INDIRECT;
import static guestlab.virtio.RawRing.NEXT;
import static guestlab.virtio.RawRing.WRITE;
import static org.junit.jupiter.api.Assertions.*;

/** The inspector's view of a chain: what the device would see, and never a broken queue. */
class ChainViewTest {
    private static final long DATA = 0x10000;
    private static final long TABLE = 0x20000;
    private MemfdMemory mem;
    private RawRing raw;
    private DeviceQueue queue;

    @BeforeEach
    void ring() throws RingFault {
        mem = MemfdMemory.allocate("chainview", 1 << 20);
        raw = new RawRing(mem, VringLayout.contiguous(8, 0, 4096));
        queue = raw.device(Features.bit(Features.RING_INDIRECT_DESC));
    }

    @AfterEach
    void free() throws Exception {
        mem.close();
    }

    @Test
    void aChainThroughAnIndirectTableShowsTheTableThenItsEntries() {
        raw.indirect(TABLE, 0, DATA, 16, NEXT, 1).indirect(TABLE, 1, DATA + 16, 1, WRITE, 0)
                .desc(3, TABLE, 32, INDIRECT, 0).offer(3);
        ChainView v = ChainView.read(mem, queue.state(), ChainView.headAt(mem, queue.state(), 0));

        assertEquals(3, v.head());
        assertNull(v.reason());
        assertNull(v.problem());
        assertEquals(List.of(new ChainView.Descriptor(3, TABLE, 32, INDIRECT, 0, false),
                new ChainView.Descriptor(0, DATA, 16, NEXT, 1, true),
                new ChainView.Descriptor(1, DATA + 16, 1, WRITE, 0, true)), v.descriptors());
        assertTrue(v.descriptors().get(0).indirect());
        assertTrue(v.descriptors().get(2).writable());
    }

    @Test
    void aMalformedChainIsDescribedAndTheQueueStaysUsable() throws RingFault {
        raw.desc(0, DATA, 16, NEXT, 1).desc(1, DATA, 16, NEXT, 0).offer(0);
        ChainView loop = ChainView.read(mem, queue.state(), 0);
        assertEquals(RingFault.Reason.CHAIN_LOOP, loop.reason(), loop.problem());
        assertEquals(8, loop.descriptors().size(), "what was read before the rule broke");
        assertFalse(queue.isBroken(), "looking is not taking");

        raw.desc(2, 0x7fff_0000_0000L, 16, 0, 0);
        assertEquals(RingFault.Reason.BUFFER_OUTSIDE_MEMORY, ChainView.read(mem, queue.state(), 2).reason());
        assertEquals(RingFault.Reason.HEAD_OUT_OF_RANGE, ChainView.read(mem, queue.state(), 8).reason());
        assertFalse(queue.isBroken());
    }
}

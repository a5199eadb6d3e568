package guestlab.virtio;

import guestlab.events.EventBus;
import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemory;

/** Writes a ring by hand, the way a buggy or hostile driver might, for device-side tests. */
final class RawRing {
    final GuestMemory mem;
    final VringLayout ring;
    int availIdx;

    RawRing(GuestMemory mem, VringLayout ring) {
        this.mem = mem;
        this.ring = ring;
    }

    RawRing desc(int i, long addr, long len, int flags, int next) {
        return indirect(ring.desc(), i, addr, len, flags, next);
    }

    /** Writes an indirect table entry at {@code table}. */
    RawRing indirect(long table, int i, long addr, long len, int flags, int next) {
        long d = VringLayout.descriptorAt(table, i);
        mem.writeU64(d + VringLayout.DESC_ADDR, addr);
        mem.writeU32(d + VringLayout.DESC_LEN, len);
        mem.writeU16(d + VringLayout.DESC_FLAGS, flags);
        mem.writeU16(d + VringLayout.DESC_NEXT, next);
        return this;
    }

    /** Puts {@code head} in the next avail slot and publishes it. */
    RawRing offer(int head) {
        mem.writeU16(ring.availSlot(availIdx), head);
        availIdx = (availIdx + 1) & 0xffff;
        mem.writeU16(ring.availIdx(), availIdx);
        return this;
    }

    DeviceQueue device(long features) throws RingFault {
        return new DeviceQueue(mem, ring, features, new QueueId("test", "dev", 0), new EventBus(16), new QueueCounters());
    }

    static final int NEXT = VringLayout.DESC_F_NEXT, WRITE = VringLayout.DESC_F_WRITE, INDIRECT = VringLayout.DESC_F_INDIRECT;
}

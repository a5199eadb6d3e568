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
        long d = ring.desc() + 16L * i;
        mem.writeU64(d, addr);
        mem.writeU32(d + 8, len);
        mem.writeU16(d + 12, flags);
        mem.writeU16(d + 14, next);
        return this;
    }

    /** Writes an indirect table entry at {@code table}. */
    RawRing indirect(long table, int i, long addr, long len, int flags, int next) {
        long d = table + 16L * i;
        mem.writeU64(d, addr);
        mem.writeU32(d + 8, len);
        mem.writeU16(d + 12, flags);
        mem.writeU16(d + 14, next);
        return this;
    }

    /** Puts {@code head} in the next avail slot and publishes it. */
    RawRing offer(int head) {
        mem.writeU16(ring.avail() + 4 + 2L * (availIdx % ring.size()), head);
        availIdx = (availIdx + 1) & 0xffff;
        mem.writeU16(ring.avail() + 2, availIdx);
        return this;
    }

    DeviceQueue device(long features) throws RingFault {
        return new DeviceQueue(mem, ring, features, new QueueId("test", "dev", 0), new EventBus(16), new QueueCounters());
    }

    static final int NEXT = DeviceQueue.DESC_F_NEXT, WRITE = DeviceQueue.DESC_F_WRITE, INDIRECT = DeviceQueue.DESC_F_INDIRECT;
}

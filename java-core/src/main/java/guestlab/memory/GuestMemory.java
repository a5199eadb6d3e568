package guestlab.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Guest RAM addressed by guest-physical address. Every access is checked against the regions;
 * an access that is not wholly inside one region throws {@link GuestMemoryException} and touches
 * nothing. Multi-byte values are little-endian, as virtio 1.x defines them (and as lguest's only
 * architecture, x86, stored them).
 */
public class GuestMemory implements AutoCloseable {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemoryRegion[] regions;
    private final AutoCloseable owner;

    /** @param owner released by {@link #close()} (unmaps and closes the backing), may be null */
    public GuestMemory(List<MemoryRegion> regions, AutoCloseable owner) {
        List<MemoryRegion> sorted = new ArrayList<>(regions);
        sorted.sort(Comparator.comparingLong(MemoryRegion::base));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).base() < sorted.get(i - 1).end()) {
                throw new IllegalArgumentException("overlapping guest memory regions");
            }
        }
        this.regions = sorted.toArray(MemoryRegion[]::new);
        this.owner = owner;
    }

    /** One past the highest guest-physical address backed by RAM. */
    public long limit() {
        return regions.length == 0 ? 0 : regions[regions.length - 1].end();
    }

    public boolean contains(long gpa, long len) {
        return find(gpa, len) != null;
    }

    /**
     * A view of {@code len} bytes at {@code gpa}; it is bounded to that range, so the caller
     * cannot reach past it.
     */
    public MemorySegment slice(long gpa, long len) {
        MemoryRegion r = at(gpa, len);
        return r.segment().asSlice(gpa - r.base(), len);
    }

    public int readU8(long gpa) {
        MemoryRegion r = at(gpa, 1);
        return Byte.toUnsignedInt(r.segment().get(ValueLayout.JAVA_BYTE, gpa - r.base()));
    }

    public int readU16(long gpa) {
        MemoryRegion r = at(gpa, 2);
        return Short.toUnsignedInt(r.segment().get(U16, gpa - r.base()));
    }

    public long readU32(long gpa) {
        MemoryRegion r = at(gpa, 4);
        return Integer.toUnsignedLong(r.segment().get(U32, gpa - r.base()));
    }

    public long readU64(long gpa) {
        MemoryRegion r = at(gpa, 8);
        return r.segment().get(U64, gpa - r.base());
    }

    public void writeU8(long gpa, int v) {
        MemoryRegion r = at(gpa, 1);
        r.segment().set(ValueLayout.JAVA_BYTE, gpa - r.base(), (byte) v);
    }

    public void writeU16(long gpa, int v) {
        MemoryRegion r = at(gpa, 2);
        r.segment().set(U16, gpa - r.base(), (short) v);
    }

    public void writeU32(long gpa, long v) {
        MemoryRegion r = at(gpa, 4);
        r.segment().set(U32, gpa - r.base(), (int) v);
    }

    public void writeU64(long gpa, long v) {
        MemoryRegion r = at(gpa, 8);
        r.segment().set(U64, gpa - r.base(), v);
    }

    public byte[] read(long gpa, int len) {
        return slice(gpa, len).toArray(ValueLayout.JAVA_BYTE);
    }

    public void write(long gpa, byte[] data) {
        write(gpa, data, 0, data.length);
    }

    public void write(long gpa, byte[] data, int off, int len) {
        MemorySegment.copy(data, off, slice(gpa, len), ValueLayout.JAVA_BYTE, 0, len);
    }

    /** Zeroes {@code len} bytes at {@code gpa}. */
    public void clear(long gpa, long len) {
        slice(gpa, len).fill((byte) 0);
    }

    /** Orders the ring accesses around it (the virtio spec's memory barriers, section 2.7.13). */
    public static void fence() {
        VarHandle.fullFence();
    }

    /** Unmaps and releases the backing (memfd, or the front-end's fds). */
    @Override
    public void close() {
        if (owner == null) return;
        try {
            owner.close();
        } catch (Exception e) {
            throw new IllegalStateException("releasing guest memory: " + e.getMessage(), e);
        }
    }

    private MemoryRegion at(long gpa, long len) {
        MemoryRegion r = find(gpa, len);
        if (r == null) {
            throw new GuestMemoryException(String.format(
                    "guest access of %d bytes at 0x%x is outside guest memory (limit 0x%x)", len, gpa, limit()));
        }
        return r;
    }

    private MemoryRegion find(long gpa, long len) {
        for (MemoryRegion r : regions) {
            if (r.contains(gpa, len)) return r;
        }
        return null;
    }
}

package guestlab.memory;

import guestlab.posix.IoVector;

import java.lang.foreign.Arena;
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
 *
 * <p>The mappings are segments of one shared {@link Arena}: {@link #close()} ends it, which unmaps
 * them, and from then on every access, through this object or a segment it handed out, throws
 * ({@link GuestMemoryClosedException} here) instead of touching unmapped memory. A mapping that
 * faults (SIGBUS, when the file under it is shorter than the mapping) throws
 * {@link GuestMemoryFaultException}: the device that made the access breaks, not the process.
 */
public class GuestMemory implements AutoCloseable {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemoryRegion[] regions;
    private final Arena arena;
    private final AutoCloseable afterUnmap;
    private final String whenClosed;
    private volatile boolean closed;

    /**
     * @param arena      owns every region's segment; closed (unmapping them) by {@link #close()}
     * @param afterUnmap released after the arena (the fds behind the mappings), may be null
     * @param whenClosed what an access after {@link #close()} is told, e.g. "guest a is stopped"
     */
    GuestMemory(List<MemoryRegion> regions, Arena arena, AutoCloseable afterUnmap, String whenClosed) {
        List<MemoryRegion> sorted = new ArrayList<>(regions);
        sorted.sort(Comparator.comparingLong(MemoryRegion::base));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).base() < sorted.get(i - 1).end()) {
                throw new IllegalArgumentException("overlapping guest memory regions");
            }
        }
        for (MemoryRegion r : sorted) {
            if (!r.segment().scope().equals(arena.scope())) {
                throw new IllegalArgumentException("a region's segment is not owned by the memory's arena");
            }
        }
        this.regions = sorted.toArray(MemoryRegion[]::new);
        this.arena = arena;
        this.afterUnmap = afterUnmap;
        this.whenClosed = whenClosed;
    }

    /** Whether the memory refuses access: {@link #close() closed}, or {@link #abandon() abandoned}. */
    public boolean isClosed() {
        return closed;
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
        try {
            return r.segment().asSlice(gpa - r.base(), len);
        } catch (IllegalStateException e) {
            throw failed(e);
        }
    }

    /**
     * Adds the {@code len} bytes at {@code gpa} to {@code into} as one piece, for a preadv/pwritev
     * straight between a file and guest memory; checked as {@link #slice} checks, without making a slice.
     */
    public void gather(IoVector into, long gpa, long len) {
        MemoryRegion r = at(gpa, len);
        into.add(r.segment(), gpa - r.base(), len);
    }

    public int readU8(long gpa) {
        MemoryRegion r = at(gpa, 1);
        try {
            return Byte.toUnsignedInt(r.segment().get(ValueLayout.JAVA_BYTE, gpa - r.base()));
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public int readU16(long gpa) {
        MemoryRegion r = at(gpa, 2);
        try {
            return Short.toUnsignedInt(r.segment().get(U16, gpa - r.base()));
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public long readU32(long gpa) {
        MemoryRegion r = at(gpa, 4);
        try {
            return Integer.toUnsignedLong(r.segment().get(U32, gpa - r.base()));
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public long readU64(long gpa) {
        MemoryRegion r = at(gpa, 8);
        try {
            return r.segment().get(U64, gpa - r.base());
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public void writeU8(long gpa, int v) {
        MemoryRegion r = at(gpa, 1);
        try {
            r.segment().set(ValueLayout.JAVA_BYTE, gpa - r.base(), (byte) v);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public void writeU16(long gpa, int v) {
        MemoryRegion r = at(gpa, 2);
        try {
            r.segment().set(U16, gpa - r.base(), (short) v);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public void writeU32(long gpa, long v) {
        MemoryRegion r = at(gpa, 4);
        try {
            r.segment().set(U32, gpa - r.base(), (int) v);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public void writeU64(long gpa, long v) {
        MemoryRegion r = at(gpa, 8);
        try {
            r.segment().set(U64, gpa - r.base(), v);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public byte[] read(long gpa, int len) {
        MemorySegment s = slice(gpa, len);
        try {
            return s.toArray(ValueLayout.JAVA_BYTE);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    public void write(long gpa, byte[] data) {
        write(gpa, data, 0, data.length);
    }

    public void write(long gpa, byte[] data, int off, int len) {
        MemorySegment s = slice(gpa, len);
        try {
            MemorySegment.copy(data, off, s, ValueLayout.JAVA_BYTE, 0, len);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    /** Zeroes {@code len} bytes at {@code gpa}. */
    public void clear(long gpa, long len) {
        MemorySegment s = slice(gpa, len);
        try {
            s.fill((byte) 0);
        } catch (IllegalStateException | InternalError e) {
            throw failed(e);
        }
    }

    /** Orders the ring accesses around it (the virtio spec's memory barriers, section 2.7.13). */
    public static void fence() {
        VarHandle.fullFence();
    }

    /**
     * Unmaps and releases the backing (memfd, or the front-end's fds). Idempotent. Threads still
     * reading or writing through a segment get an exception, never unmapped memory (the arena's
     * close is a handshake with them).
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
        }
        try {
            arena.close();
        } finally {
            if (afterUnmap != null) {
                try {
                    afterUnmap.close();
                } catch (Exception e) {
                    throw new IllegalStateException("releasing guest memory: " + e.getMessage(), e);
                }
            }
        }
    }

    /**
     * Refuses every later access, like {@link #close()}, but leaves the mappings in place for good:
     * for when a device thread that may still be inside a system call on guest memory (a preadv
     * into it, say) could not be stopped. Leaking the mapping is the price of never letting that
     * call land in memory that was unmapped and perhaps mapped again for something else.
     */
    public void abandon() {
        synchronized (this) {
            closed = true;
        }
    }

    /** An access that began inside guest memory failed: released under it, or its mapping faulted. */
    private GuestMemoryException failed(Throwable cause) {
        if (cause instanceof InternalError e) return GuestMemoryFaultException.of(e);
        return new GuestMemoryClosedException(whenClosed);
    }

    private MemoryRegion at(long gpa, long len) {
        if (closed) throw new GuestMemoryClosedException(whenClosed);
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

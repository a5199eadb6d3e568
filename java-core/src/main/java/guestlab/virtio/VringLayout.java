package guestlab.virtio;

/**
 * Where a split virtqueue's three parts live in guest-physical memory (virtio 1.x section 2.7).
 * Descriptor table: 16 bytes per entry. Avail ring: flags, idx, ring[size], used_event.
 * Used ring: flags, idx, {id, len}[size], avail_event.
 */
public record VringLayout(int size, long desc, long avail, long used) {
    public VringLayout {
        if (size <= 0 || size > 32768 || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue size must be a power of 2 up to 32768, not " + size);
        }
    }

    /** The legacy contiguous layout, vring_init(): desc, avail right after, used at the next {@code align}. */
    public static VringLayout contiguous(int size, long base, long align) {
        long avail = base + 16L * size;
        long used = alignUp(avail + 2L * (3 + size), align);
        return new VringLayout(size, base, avail, used);
    }

    /** Bytes a contiguous ring of {@code size} entries occupies with {@code align} (vring_size()). */
    public static long contiguousBytes(int size, long align) {
        return alignUp(16L * size + 2L * (3 + size), align) + 2L * 3 + 8L * size;
    }

    public long descBytes() {
        return 16L * size;
    }

    public long availBytes() {
        return 2L * (3 + size);
    }

    public long usedBytes() {
        return 2L * 3 + 8L * size;
    }

    static long alignUp(long v, long align) {
        return (v + align - 1) & -align;
    }
}

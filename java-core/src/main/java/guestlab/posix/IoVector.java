package guestlab.posix;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * A scatter-gather list for one positional preadv/pwritev ({@link PosixFile}): pieces of native
 * memory in order, each a range of a segment. Its owner refills it per transfer ({@link #clear()}),
 * so a transfer allocates nothing once the list has grown to its number of pieces.
 */
public final class IoVector {
    private MemorySegment[] segments = new MemorySegment[8];
    private long[] offsets = new long[8];
    private long[] lengths = new long[8];
    private int count;
    private long length;

    /** Empties the list for the next transfer. */
    public void clear() {
        count = 0;
        length = 0;
    }

    /** Adds {@code length} bytes of {@code segment}, from {@code offset} on, which must lie inside it. */
    public void add(MemorySegment segment, long offset, long length) {
        if (!segment.isNative()) throw new IllegalArgumentException("a piece of a preadv/pwritev is native memory");
        Objects.checkFromIndexSize(offset, length, segment.byteSize());
        if (count == segments.length) {
            segments = Arrays.copyOf(segments, count * 2);
            offsets = Arrays.copyOf(offsets, count * 2);
            lengths = Arrays.copyOf(lengths, count * 2);
        }
        segments[count] = segment;
        offsets[count] = offset;
        lengths[count] = length;
        count++;
        this.length += length;
    }

    /** How many pieces there are. */
    public int count() {
        return count;
    }

    /** The bytes of all pieces together. */
    public long length() {
        return length;
    }

    /** Zeroes every byte past the first {@code n}: what a read that met the end of its file did not fill. */
    public void zeroFrom(long n) {
        for (int i = 0; i < count; i++) {
            if (n >= lengths[i]) {
                n -= lengths[i];
            } else {
                segments[i].asSlice(offsets[i] + n, lengths[i] - n).fill((byte) 0);
                n = 0;
            }
        }
    }

    /** Where piece {@code i} starts, as an address for the iovec. */
    long address(int i) {
        Objects.checkIndex(i, count);
        return segments[i].address() + offsets[i];
    }

    long length(int i) {
        Objects.checkIndex(i, count);
        return lengths[i];
    }
}

package guestlab.virtio;

import guestlab.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A request's data in guest memory: {@link #length()} bytes of {@link #buffers()} (a chain's
 * readable or writable buffers, unchanged), starting {@link #offset()} bytes in. Typed requests
 * implement it with their own components, so that no view object and no copy of the buffer list
 * is made per request.
 */
public interface BufferRange {
    GuestMemory memory();

    List<Buffer> buffers();

    /** Where the data starts, counted in bytes from the first buffer's start. */
    long offset();

    long length();

    /** Copies {@code n} bytes, from {@code at} bytes into the range, to {@code dst[off...]}. */
    default void read(long at, byte[] dst, int off, int n) {
        checkInside(at, n);
        long skip = offset() + at;
        int done = 0;
        for (Buffer b : buffers()) {
            if (done == n) break;
            if (skip >= b.len()) {
                skip -= b.len();
                continue;
            }
            int take = (int) Math.min(b.len() - skip, n - done);
            MemorySegment.copy(memory().slice(b.addr() + skip, take), ValueLayout.JAVA_BYTE, 0, dst, off + done, take);
            done += take;
            skip = 0;
        }
    }

    /** Copies {@code src[off, off+n)} into the range, {@code at} bytes in. */
    default void write(long at, byte[] src, int off, int n) {
        checkInside(at, n);
        long skip = offset() + at;
        int done = 0;
        for (Buffer b : buffers()) {
            if (done == n) break;
            if (skip >= b.len()) {
                skip -= b.len();
                continue;
            }
            int put = (int) Math.min(b.len() - skip, n - done);
            memory().write(b.addr() + skip, src, off + done, put);
            done += put;
            skip = 0;
        }
    }

    /** The range as slices of guest memory, in order, for scatter-gather I/O. */
    default List<MemorySegment> slices() {
        List<MemorySegment> out = new ArrayList<>(buffers().size());
        long skip = offset();
        long left = length();
        for (Buffer b : buffers()) {
            if (left == 0) break;
            if (skip >= b.len()) {
                skip -= b.len();
                continue;
            }
            long take = Math.min(b.len() - skip, left);
            out.add(memory().slice(b.addr() + skip, take));
            left -= take;
            skip = 0;
        }
        return out;
    }

    private void checkInside(long at, int n) {
        if (at < 0 || n < 0 || at + n > length()) {
            throw new IndexOutOfBoundsException(n + " bytes at " + at + " in a range of " + length());
        }
    }

    /** How many bytes {@code buffers} hold together. */
    static long lengthOf(List<Buffer> buffers) {
        long n = 0;
        for (Buffer b : buffers) n += b.len();
        return n;
    }
}

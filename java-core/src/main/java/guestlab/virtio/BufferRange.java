package guestlab.virtio;

import guestlab.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A request's data in guest memory: {@link #length()} bytes of {@link #buffers()} (one side of a
 * chain, unchanged), starting {@link #offset()} bytes in. Typed requests implement it with their
 * own components, so that no view object and no copy of the buffers is made per request.
 */
public interface BufferRange {
    GuestMemory memory();

    Buffers buffers();

    /** Where the data starts, counted in bytes from the first buffer's start. */
    long offset();

    long length();

    /** Copies {@code n} bytes, from {@code at} bytes into the range, to {@code dst[off...]}. */
    default void read(long at, byte[] dst, int off, int n) {
        checkInside(at, n);
        BufferWalk.each(buffers(), offset() + at, n, (addr, done, len) ->
                MemorySegment.copy(memory().slice(addr, len), ValueLayout.JAVA_BYTE, 0, dst, off + (int) done, (int) len));
    }

    /** Copies {@code src[off, off+n)} into the range, {@code at} bytes in. */
    default void write(long at, byte[] src, int off, int n) {
        checkInside(at, n);
        BufferWalk.each(buffers(), offset() + at, n, (addr, done, len) -> memory().write(addr, src, off + (int) done, (int) len));
    }

    /** The range as slices of guest memory, in order, for scatter-gather I/O. */
    default List<MemorySegment> slices() {
        List<MemorySegment> out = new ArrayList<>(buffers().count());
        BufferWalk.each(buffers(), offset(), length(), (addr, done, len) -> out.add(memory().slice(addr, len)));
        return out;
    }

    private void checkInside(long at, int n) {
        if (at < 0 || n < 0 || at + n > length()) {
            throw new IndexOutOfBoundsException(n + " bytes at " + at + " in a range of " + length());
        }
    }
}

package guestlab.virtio;

import guestlab.memory.GuestMemory;
import guestlab.posix.IoVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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

    /** Adds the range to {@code into} as pieces of guest memory, in order, for one scatter-gather transfer. */
    default void gather(IoVector into) {
        BufferWalk.gather(memory(), buffers(), offset(), length(), into);
    }

    private void checkInside(long at, int n) {
        if (at < 0 || n < 0 || at + n > length()) {
            throw new IndexOutOfBoundsException(n + " bytes at " + at + " in a range of " + length());
        }
    }
}

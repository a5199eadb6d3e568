package guestlab.virtio;

import guestlab.memory.GuestMemory;
import guestlab.posix.IoVector;

/**
 * The walk over a side of a chain's buffers as one stream of bytes: {@link BufferRange}'s and
 * {@link DescriptorChain}'s reads, writes and gathers all go through it.
 */
final class BufferWalk {
    private BufferWalk() {}

    /** One contiguous piece: its guest address, the bytes walked before it, its length. */
    @FunctionalInterface
    interface Piece {
        void at(long addr, long done, long len);
    }

    /**
     * Walks up to {@code n} bytes of {@code buffers}, starting {@code skip} bytes in, one piece per
     * buffer touched; returns how many bytes there were (fewer than {@code n} if the buffers end).
     */
    static long each(Buffers buffers, long skip, long n, Piece piece) {
        long done = 0;
        for (int i = 0; i < buffers.count() && done < n; i++) {
            int len = buffers.len(i);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long take = Math.min(len - skip, n - done);
            piece.at(buffers.addr(i) + skip, done, take);
            done += take;
            skip = 0;
        }
        return done;
    }

    /**
     * {@link #each} whose pieces go into {@code into}: written out rather than given a
     * {@link Piece}, which would capture {@code mem} and {@code into}, because a block request's
     * data is gathered once per request and the device path allocates nothing.
     */
    static void gather(GuestMemory mem, Buffers buffers, long skip, long n, IoVector into) {
        long done = 0;
        for (int i = 0; i < buffers.count() && done < n; i++) {
            int len = buffers.len(i);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long take = Math.min(len - skip, n - done);
            mem.gather(into, buffers.addr(i) + skip, take);
            done += take;
            skip = 0;
        }
    }
}

package guestlab.virtio;

import java.util.List;

/**
 * The one walk over a list of guest buffers as one stream of bytes: {@link BufferRange}'s and
 * {@link DescriptorChain}'s reads, writes and slices all go through it.
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
    static long each(List<Buffer> buffers, long skip, long n, Piece piece) {
        long done = 0;
        for (Buffer b : buffers) {
            if (done == n) break;
            if (skip >= b.len()) {
                skip -= b.len();
                continue;
            }
            long take = Math.min(b.len() - skip, n - done);
            piece.at(b.addr() + skip, done, take);
            done += take;
            skip = 0;
        }
        return done;
    }
}

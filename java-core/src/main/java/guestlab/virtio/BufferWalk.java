package guestlab.virtio;

/**
 * The walk over a side of a chain's buffers as one stream of bytes: {@link BufferRange}'s and
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
}

package guestlab.bench;

import guestlab.posix.IoVector;
import guestlab.posix.PosixFile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The limit a block back-end works against: the requests {@link BlockLoad} makes, issued as
 * preadv/pwritev straight on the image, back to back from each thread, with no virtio, no other
 * process and no wake-up in between.
 */
final class DirectLoad implements AutoCloseable {
    private final PosixFile file;
    private final long size;

    private DirectLoad(PosixFile file) {
        this.file = file;
        this.size = file.size();
    }

    static DirectLoad open(Path image) {
        return new DirectLoad(PosixFile.open(image, false));
    }

    /** {@code requestsPerThread} requests of {@code bytes} on each of {@code threads} threads. */
    BlockLoad.Result run(boolean write, boolean random, int bytes, int requestsPerThread, int threads) throws Exception {
        return BlockLoad.Result.onThreads(threads, requestsPerThread, bytes, t -> drive(t, write, random, bytes, requestsPerThread));
    }

    private long[] drive(int thread, boolean write, boolean random, int bytes, int requests) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(bytes, 4096);
            byte[] noise = new byte[bytes];
            new SplittableRandom(3).nextBytes(noise);
            MemorySegment.copy(MemorySegment.ofArray(noise), 0, buffer, 0, bytes);
            IoVector buffers = new IoVector();
            buffers.add(buffer, 0, bytes);
            SplittableRandom rnd = new SplittableRandom(17 + thread);
            long blocks = size / bytes, next = 0;
            long[] latencies = new long[requests];
            for (int i = 0; i < requests; i++) {
                long offset = random ? rnd.nextLong(blocks) * bytes : next;
                next = (next + bytes) % (blocks * bytes);
                long t = System.nanoTime();
                if (write) file.writeFully(buffers, offset, Long.MAX_VALUE);
                else file.readFully(buffers, offset);
                latencies[i] = System.nanoTime() - t;
            }
            return latencies;
        }
    }

    @Override
    public void close() {
        file.close();
    }
}

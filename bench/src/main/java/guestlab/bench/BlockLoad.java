package guestlab.bench;

import guestlab.memory.MemfdMemory;
import guestlab.posix.EventFd;
import guestlab.vhostuser.VhostUserFrontend;
import guestlab.virtio.Buffer;
import guestlab.virtio.Features;
import guestlab.virtio.VringLayout;
import guestlab.virtio.block.BlockSpec;
import guestlab.virtio.driver.DriverQueue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * An asynchronous virtio-blk driver over vhost-user, for measuring a back-end: it keeps a fixed
 * number of requests in flight on each queue (one thread per queue, as a guest has one vCPU per
 * queue), kicks and waits for interrupts as a driver with VIRTIO_F_RING_EVENT_IDX does (section
 * 2.7.10), and records each request's latency from offer to collection. The same driver drives
 * every back-end, so their figures differ only by the back-end.
 */
final class BlockLoad implements AutoCloseable {
    /** The ring size QEMU gives vhost-user-blk queues by default. */
    private static final int QUEUE_SIZE = 128;
    /** Room per queue for its requests' data: the deepest queue of the largest requests. */
    private static final long DATA_BYTES = 32L << 20;
    private static final long SLOT_BYTES = 64;        // a request's 16-byte header, then its status byte
    private static final int STALL_MILLIS = 10_000;

    /** What a run does: random or sequential, reads or writes, of {@code bytes} each. */
    enum Pattern { RANDOM_READ, RANDOM_WRITE, SEQUENTIAL_READ, SEQUENTIAL_WRITE }

    /** One run's outcome: requests done, wall time, and every request's latency in nanoseconds. */
    record Result(long requests, long bytes, long nanos, long[] latencies) {
        double iops() {
            return requests / (nanos / 1e9);
        }

        double megabytesPerSecond() {
            return bytes / 1e6 / (nanos / 1e9);
        }

        double percentileMicros(double p) {
            return latencies[Math.min(latencies.length - 1, (int) (latencies.length * p))] / 1e3;
        }

        /**
         * Runs {@code work} on {@code threads} threads at once (argument: the thread's number),
         * each doing {@code perThread} requests of {@code bytes} and returning their latencies,
         * and times them together.
         */
        static Result onThreads(int threads, int perThread, int bytes, IntFunction<long[]> work) throws Exception {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<long[]>> runs = new ArrayList<>();
                long t0 = System.nanoTime();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    runs.add(pool.submit((Callable<long[]>) () -> work.apply(thread)));
                }
                long[] all = new long[perThread * threads];
                for (int t = 0; t < threads; t++) System.arraycopy(runs.get(t).get(), 0, all, t * perThread, perThread);
                long nanos = System.nanoTime() - t0;
                Arrays.sort(all);
                return new Result(all.length, (long) all.length * bytes, nanos, all);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    private final VhostUserFrontend frontend;
    private final MemfdMemory mem;
    private final long capacityBytes;
    private final DriverQueue[] queues;
    private final EventFd[] kicks;
    private final EventFd[] calls;
    private final EventFd[] errors;
    private final long[] slotBase;
    private final long[] dataBase;

    private BlockLoad(VhostUserFrontend frontend, MemfdMemory mem, long capacityBytes, int queueCount) {
        this.frontend = frontend;
        this.mem = mem;
        this.capacityBytes = capacityBytes;
        this.queues = new DriverQueue[queueCount];
        this.kicks = new EventFd[queueCount];
        this.calls = new EventFd[queueCount];
        this.errors = new EventFd[queueCount];
        this.slotBase = new long[queueCount];
        this.dataBase = new long[queueCount];
    }

    /**
     * Connects to the back-end on {@code socket} and sets up {@code queueCount} queues; fails if
     * the back-end offers fewer (VIRTIO_BLK_F_MQ, num_queues).
     */
    static BlockLoad connect(Path socket, int queueCount) throws IOException {
        VhostUserFrontend f = VhostUserFrontend.connect(socket);
        MemfdMemory mem = null;
        try {
            long wanted = Features.bit(Features.VERSION_1) | Features.bit(Features.RING_EVENT_IDX)
                    | Features.bit(BlockSpec.F_FLUSH) | Features.bit(BlockSpec.F_SEG_MAX) | Features.bit(BlockSpec.F_BLK_SIZE)
                    | Features.bit(BlockSpec.F_MQ);
            long features = f.deviceFeatures() & wanted;
            f.negotiate(features);
            ByteBuffer config = ByteBuffer.wrap(f.config(BlockSpec.CONFIG_SIZE)).order(ByteOrder.LITTLE_ENDIAN);
            int offered = Features.has(features, BlockSpec.F_MQ) ? Short.toUnsignedInt(config.getShort(BlockSpec.CFG_NUM_QUEUES)) : 1;
            if (offered < queueCount) throw new IOException(socket + " offers " + offered + " queues, not " + queueCount);
            long ringBytes = (VringLayout.contiguousBytes(QUEUE_SIZE, 4096) + 4095) & ~4095L;
            long perQueue = ringBytes + 4096 + DATA_BYTES;
            mem = MemfdMemory.allocate("blockload", 4096 + perQueue * queueCount);
            f.shareMemory(mem.fd(), mem.limit());
            BlockLoad load = new BlockLoad(f, mem, config.getLong(BlockSpec.CFG_CAPACITY) * BlockSpec.SECTOR, queueCount);
            for (int q = 0; q < queueCount; q++) {
                long base = 4096 + perQueue * q;
                VringLayout ring = VringLayout.contiguous(QUEUE_SIZE, base, 4096);
                load.queues[q] = new DriverQueue(mem, ring, features);
                load.slotBase[q] = base + ringBytes;
                load.dataBase[q] = base + ringBytes + 4096;
                load.kicks[q] = EventFd.create();
                load.calls[q] = EventFd.create();
                load.errors[q] = EventFd.create();
                f.startRing(q, ring, load.kicks[q], load.calls[q], load.errors[q]);
            }
            byte[] noise = new byte[1 << 20];
            new SplittableRandom(3).nextBytes(noise);
            for (int q = 0; q < queueCount; q++) {
                for (long at = 0; at < DATA_BYTES; at += noise.length) mem.write(load.dataBase[q] + at, noise); // what writes write
            }
            return load;
        } catch (IOException | RuntimeException e) {
            f.close();
            if (mem != null) mem.close();
            throw e;
        }
    }

    long capacityBytes() {
        return capacityBytes;
    }

    /**
     * Runs {@code requestsPerQueue} requests of {@code bytes} on each of the first {@code queueCount}
     * queues, {@code depth} in flight on each, and returns them together. Random offsets are
     * aligned to {@code bytes}; sequential ones start at 0 on every queue.
     */
    Result run(Pattern pattern, int bytes, int depth, int requestsPerQueue, int queueCount) throws Exception {
        if (depth > QUEUE_SIZE / 3 || (long) depth * bytes > DATA_BYTES) throw new IllegalArgumentException("depth " + depth + " of " + bytes);
        if (queueCount > queues.length) throw new IllegalArgumentException(queueCount + " queues; set up: " + queues.length);
        return Result.onThreads(queueCount, requestsPerQueue, bytes, q -> drive(q, pattern, bytes, depth, requestsPerQueue));
    }

    /** One queue's share of a run, on its own thread; returns the latencies in completion order. */
    private long[] drive(int q, Pattern pattern, int bytes, int depth, int requests) {
        DriverQueue dq = queues[q];
        boolean write = pattern == Pattern.RANDOM_WRITE || pattern == Pattern.SEQUENTIAL_WRITE;
        boolean random = pattern == Pattern.RANDOM_READ || pattern == Pattern.RANDOM_WRITE;
        SplittableRandom rnd = new SplittableRandom(17 + q);
        long blocks = capacityBytes / bytes;
        long[] latencies = new long[requests];
        long[] offeredAt = new long[QUEUE_SIZE];
        int[] slotOfHead = new int[QUEUE_SIZE];
        int[] freeSlots = new int[depth];
        for (int s = 0; s < depth; s++) freeSlots[s] = s;
        int free = depth, offered = 0, done = 0;
        long nextSequential = 0;
        while (done < requests) {
            while (free > 0 && offered < requests) {
                int slot = freeSlots[--free];
                long offset = random ? rnd.nextLong(blocks) * bytes : nextSequential;
                nextSequential = (nextSequential + bytes) % (blocks * bytes);
                long header = slotBase[q] + slot * SLOT_BYTES;
                mem.writeU32(header, write ? BlockSpec.T_OUT : BlockSpec.T_IN);
                mem.writeU32(header + 4, 0);
                mem.writeU64(header + 8, offset / BlockSpec.SECTOR);
                mem.writeU8(header + 16, 0xff);
                Buffer data = new Buffer(dataBase[q] + (long) slot * bytes, bytes);
                Buffer head = new Buffer(header, BlockSpec.HEADER_SIZE), status = new Buffer(header + 16, 1);
                int h = write ? dq.add(List.of(head, data), List.of(status)) : dq.add(List.of(head), List.of(data, status));
                slotOfHead[h] = slot;
                offeredAt[h] = System.nanoTime();
                offered++;
            }
            if (dq.kickNeeded()) kicks[q].signal();
            boolean any = false;
            DriverQueue.Used u;
            while ((u = dq.pollUsed()) != null) {
                long now = System.nanoTime();
                int slot = slotOfHead[u.head()];
                int s = mem.readU8(slotBase[q] + slot * SLOT_BYTES + 16);
                if (s != BlockSpec.S_OK) throw new IllegalStateException("queue " + q + ": request failed with " + BlockSpec.statusName(s));
                latencies[done++] = now - offeredAt[u.head()];
                freeSlots[free++] = slot;
                any = true;
            }
            if (!any && done < requests && calls[q].await(STALL_MILLIS) == 0) {
                throw new IllegalStateException("queue " + q + ": no request completed in " + STALL_MILLIS + " ms"
                        + (errors[q].await(0) > 0 ? "; the back-end reported the ring broken" : ""));
            }
        }
        return latencies;
    }

    /** Hangs up (the back-end stops its rings) and releases the memory. */
    @Override
    public void close() {
        frontend.close();
        for (EventFd e : kicks) if (e != null) e.close();
        for (EventFd e : calls) if (e != null) e.close();
        for (EventFd e : errors) if (e != null) e.close();
        mem.close();
    }
}

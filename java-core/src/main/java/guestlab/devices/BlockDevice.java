package guestlab.devices;

import guestlab.memory.GuestMemory;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.PollWindow;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.block.BlockCompletion;
import guestlab.virtio.block.BlockRequest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;

import static guestlab.virtio.block.BlockSpec.*;

/**
 * virtio-blk over a raw image file, or over a handler alone (virtio 1.x section 5.2). Each chain is parsed into a
 * {@link BlockRequest} and given to the device's {@link BlockHandler}; the handler's completion
 * becomes the status byte. The default handler ({@link ImageBlockHandler}) reads and writes
 * straight between the file and guest memory, and completes FLUSH only after fsync; every
 * failure the guest can see is a status byte.
 *
 * <p>With more than one queue (VIRTIO_BLK_F_MQ, 5.2.3) each queue has its own device thread, as
 * each has its own kick; they share the image, whose reads and writes are positional. Each queue
 * parses into request objects of its own, so serving a request allocates nothing. A large read
 * or write is shown to the driver as soon as it is served; smaller ones go back a batch at a time.
 * After a batch a queue's thread spins on the ring for a while before it sleeps, as long as the
 * driver has been coming back that soon.
 *
 * <p>An image whose size is not a multiple of 512 is treated as QEMU treats a raw image: the
 * capacity is rounded up to whole sectors, the bytes of the last sector past the end of the
 * file read as zeros, and a write to that sector extends the file.
 */
public final class BlockDevice implements VirtioDevice {
    private static final int QUEUE_SIZE = 128;
    /**
     * A request this large is shown to the driver as soon as it is served, not with the rest of its
     * batch: a 1 MiB read takes about 50 µs here, time in which the driver can refill the ring (as
     * QEMU completes each request as it ends). 4 KiB requests go back in batches, a few µs each.
     */
    private static final long LARGE = 256 << 10;
    /**
     * The longest a queue's thread spins for more requests after a batch (see {@link PollWindow}).
     * With the window at most 100 µs, 4 KiB reads at queue depth 1 went from 32 to 51 k/s (7
     * alternating rounds against a build without it); 50 µs did as well; a fixed 20 µs did nothing.
     */
    private static final long POLL_MAX_NANOS = 100_000;
    /** The most queues a device offers: one per host CPU is the useful most. */
    public static final int MAX_QUEUES = 64;

    private final Path image;
    private final ImageFile file;
    private final boolean readOnly;
    private final long capacity;
    private final int queues;
    private final QueueServer[] servers;
    private volatile BlockHandler handler;
    private volatile DeviceContext ctx;

    private BlockDevice(Path image, ImageFile file, boolean readOnly, long size, int queues) {
        this.image = image;
        this.file = file;
        this.readOnly = readOnly;
        this.queues = queues;
        this.capacity = (size + SECTOR - 1) / SECTOR;
        this.servers = new QueueServer[queues];
        for (int q = 0; q < queues; q++) servers[q] = new QueueServer(q);
        this.handler = file == null ? null : new ImageBlockHandler(image, file, readOnly, capacity, this::warn);
    }

    /**
     * A device of {@code size} bytes (whole sectors) with no image: {@code handler} serves every
     * request, and is the device's own handler, which {@link #setHandler} can wrap.
     */
    public static BlockDevice over(BlockHandler handler, long size, boolean readOnly, int queues) {
        if (queues < 1 || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("a block device has 1 to " + MAX_QUEUES + " queues, not " + queues);
        }
        if (size <= 0 || size % SECTOR != 0) throw new IllegalArgumentException("a disk's size is whole sectors, not " + size + " bytes");
        BlockDevice d = new BlockDevice(null, null, readOnly, size, queues);
        d.setHandler(handler);
        return d;
    }

    public static BlockDevice open(Path image, boolean readOnly) throws IOException {
        return open(image, readOnly, 1);
    }

    /** A device with {@code queues} request queues (1 to {@link #MAX_QUEUES}). */
    public static BlockDevice open(Path image, boolean readOnly, int queues) throws IOException {
        if (queues < 1 || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("a block device has 1 to " + MAX_QUEUES + " queues, not " + queues);
        }
        ImageFile f;
        try {
            f = ImageFile.open(image, readOnly);
        } catch (NoSuchFileException e) {
            throw new IOException("disk image " + image + " does not exist", e);
        } catch (IOException e) {
            throw new IOException("cannot open disk image " + image + (readOnly ? " for reading" : " for reading and writing")
                    + ": " + e.getMessage(), e);
        }
        try {
            return new BlockDevice(image, f, readOnly, f.size(), queues);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    public boolean readOnly() {
        return readOnly;
    }

    public long capacitySectors() {
        return capacity;
    }

    /** The handler requests go to now; until {@link #setHandler} it is the image's own. */
    public BlockHandler handler() {
        return handler;
    }

    /**
     * Sends the requests taken from now on to {@code h}, on a running device too. To wrap the
     * device's behaviour, keep {@link #handler()} and call it from {@code h}.
     */
    public void setHandler(BlockHandler h) {
        handler = Objects.requireNonNull(h, "handler");
    }

    @Override
    public int type() {
        return DeviceType.BLOCK;
    }

    @Override
    public long features() {
        long f = Features.RING_COMMON
                | Features.bit(F_SEG_MAX) | Features.bit(F_BLK_SIZE) | Features.bit(F_FLUSH) | Features.bit(F_MQ);
        return readOnly ? f | Features.bit(F_RO) : f;
    }

    @Override
    public int queueCount() {
        return queues;
    }

    @Override
    public int maxQueueSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public byte[] config() {
        ByteBuffer b = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(CFG_CAPACITY, capacity);
        b.putInt(CFG_SEG_MAX, QUEUE_SIZE - 2); // a request's header and status take two descriptors
        b.putInt(CFG_BLK_SIZE, SECTOR);
        b.putShort(CFG_NUM_QUEUES, (short) queues);
        return b.array();
    }

    @Override
    public void start(DeviceContext context) {
        this.ctx = context;
    }

    @Override
    public void handle(int index) throws RingFault {
        DeviceContext c = ctx;
        if (c == null) return;
        QueueServer server = servers[index];
        server.context = c;
        server.queue = c.queue(index);
        server.mem = c.memory();
        server.poll.woke(System.nanoTime());
        do {
            server.afterLarge = false;
            server.queue.serveAll(server);
            c.used(index);
        } while (server.queue.spinForAvailable(server.poll.nanos()));
        server.poll.sleeping(System.nanoTime());
    }

    /** How one queue serves its requests; used by that queue's device thread only. */
    private final class QueueServer implements DeviceQueue.Server {
        private final int index;
        private final BlockRequest.Parser parser = new BlockRequest.Parser();
        private DeviceContext context;
        private DeviceQueue queue;
        private GuestMemory mem;
        /** The request served last in this batch was large. */
        private boolean afterLarge;
        /** How long to spin for the driver's next requests before sleeping. */
        private final PollWindow poll = new PollWindow(POLL_MAX_NANOS);

        QueueServer(int index) {
            this.index = index;
        }

        /** Serves one request (5.2.6); returns the bytes written into the chain, status byte included. */
        @Override
        public int serve(DescriptorChain chain) throws RingFault {
            if (afterLarge) {
                // A large request just finished: show it to the driver (and interrupt, if it asks)
                // now, not at the batch's end, so it refills the ring while the rest is served.
                queue.publishUsed();
                context.used(index);
            }
            BlockRequest request = parser.parse(mem, chain);
            afterLarge = isLarge(request);
            BlockCompletion done = handler.handle(request);
            mem.writeU8(request.statusAddr(), done.status());
            return done.dataWritten() + 1;
        }
    }

    /** Whether {@code request} moves enough data that the driver should hear of it at once. */
    private static boolean isLarge(BlockRequest request) {
        return request instanceof BlockRequest.SectorRequest r && r.length() >= LARGE;
    }

    /** A host failure the user should see; the guest sees only the status byte. */
    private void warn(String message) {
        DeviceContext c = ctx;
        if (c != null) c.warn(0, message);
    }

    @Override
    public void reset() {
        ctx = null;
    }

    @Override
    public void close() {
        ctx = null;
        if (file == null) return;
        try {
            if (!readOnly && file.isOpen()) file.flush();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("closing " + image + ": " + e.getMessage(), e);
        } finally {
            file.close();
        }
    }
}

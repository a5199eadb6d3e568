package guestlab.devices;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static guestlab.virtio.block.BlockSpec.*;

/**
 * virtio-blk over a raw image file (virtio 1.x section 5.2). Reads and writes go straight between
 * the file and guest memory. FLUSH completes only after fsync. Every failure the guest can see
 * is a status byte: IOERR for bad ranges, read-only writes and host I/O errors, UNSUPP for
 * unknown requests.
 *
 * <p>An image whose size is not a multiple of 512 is treated as QEMU treats a raw image: the
 * capacity is rounded up to whole sectors, the bytes of the last sector past the end of the
 * file read as zeros, and a write to that sector extends the file.
 */
public final class BlockDevice implements VirtioDevice {
    private static final int QUEUE_SIZE = 128;

    private final Path image;
    private final ImageFile file;
    private final boolean readOnly;
    private final long capacity;
    private final byte[] serial;
    private volatile DeviceContext ctx;

    private BlockDevice(Path image, ImageFile file, boolean readOnly, long size) {
        this.image = image;
        this.file = file;
        this.readOnly = readOnly;
        this.capacity = (size + SECTOR - 1) / SECTOR;
        String name = image.getFileName().toString();
        this.serial = name.substring(0, Math.min(ID_BYTES, name.length())).getBytes(StandardCharsets.US_ASCII);
    }

    public static BlockDevice open(Path image, boolean readOnly) throws IOException {
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
            return new BlockDevice(image, f, readOnly, f.size());
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

    @Override
    public int type() {
        return DeviceType.BLOCK;
    }

    @Override
    public long features() {
        long f = Features.RING_COMMON
                | Features.bit(F_SEG_MAX) | Features.bit(F_BLK_SIZE) | Features.bit(F_FLUSH);
        return readOnly ? f | Features.bit(F_RO) : f;
    }

    @Override
    public int queueCount() {
        return 1;
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
        DeviceQueue q = c.queue(0);
        q.serveAll(chain -> serve(c, q, chain));
        c.used(0);
    }

    /** Serves one request (5.2.6); returns the bytes written into the chain, status byte included. */
    private int serve(DeviceContext c, DeviceQueue q, DescriptorChain chain) throws RingFault {
        GuestMemory mem = c.memory();
        if (chain.readableLength() < HEADER_SIZE) {
            throw new RingFault(RingFault.Reason.MALFORMED_REQUEST, "block request without a 16-byte header (head " + chain.head() + ")");
        }
        List<Buffer> in = chain.writable();
        if (in.isEmpty() || in.getLast().len() == 0) {
            throw new RingFault(RingFault.Reason.MALFORMED_REQUEST, "block request without a status byte (head " + chain.head() + ")");
        }
        ByteBuffer header = ByteBuffer.wrap(chain.readBytes(mem, 0, HEADER_SIZE)).order(ByteOrder.LITTLE_ENDIAN);
        int type = header.getInt(0);
        long sector = header.getLong(8);
        Buffer last = in.getLast();
        long statusAddr = last.addr() + last.len() - 1;
        List<Buffer> dataIn = new ArrayList<>(in.subList(0, in.size() - 1));
        if (last.len() > 1) dataIn.add(new Buffer(last.addr(), last.len() - 1));
        int written = 1;
        int status;
        switch (type) {
            case T_IN -> {
                long len = chain.writableLength() - 1;
                status = inRange(sector, len) ? transfer(c, mem, dataIn, sector, false) : S_IOERR;
                if (status == S_OK) written += (int) len;
            }
            case T_OUT -> {
                long len = chain.readableLength() - HEADER_SIZE;
                status = readOnly || !inRange(sector, len) ? S_IOERR
                        : transfer(c, mem, skip(chain.readable(), HEADER_SIZE), sector, true);
            }
            case T_FLUSH -> status = flush(c);
            case T_GET_ID -> {
                byte[] id = new byte[ID_BYTES];
                System.arraycopy(serial, 0, id, 0, serial.length);
                int n = 0;
                for (Buffer b : dataIn) {
                    int put = Math.min(b.len(), ID_BYTES - n);
                    mem.write(b.addr(), id, n, put);
                    n += put;
                }
                written += n;
                status = S_OK;
            }
            default -> status = S_UNSUPP;
        }
        mem.writeU8(statusAddr, status);
        return written;
    }

    private boolean inRange(long sector, long len) {
        return len % SECTOR == 0 && sector >= 0 && sector <= capacity && len / SECTOR <= capacity - sector;
    }

    /**
     * Moves data between the file at {@code sector} and guest buffers, which the guest memory has
     * bounds-checked (see {@link ImageFile} for how). A host error is IOERR, and is reported.
     */
    private int transfer(DeviceContext c, GuestMemory mem, List<Buffer> buffers, long sector, boolean write) {
        List<MemorySegment> segments = new ArrayList<>(buffers.size());
        for (Buffer b : buffers) segments.add(mem.slice(b.addr(), b.len()));
        long pos = sector * SECTOR;
        try {
            if (write) file.write(segments, pos);
            else file.read(segments, pos);
            return S_OK;
        } catch (IOException e) {
            c.warn(0, (write ? "write" : "read") + " of " + image + " at byte " + pos + " failed: " + e.getMessage());
            return S_IOERR;
        }
    }

    /** VIRTIO_BLK_T_FLUSH: the data is on stable storage before the request completes. */
    private int flush(DeviceContext c) {
        if (readOnly) return S_OK;
        try {
            file.flush();
            return S_OK;
        } catch (IOException e) {
            c.warn(0, "fsync of " + image + " failed: " + e.getMessage());
            return S_IOERR;
        }
    }

    private static List<Buffer> skip(List<Buffer> buffers, long bytes) {
        List<Buffer> out = new ArrayList<>();
        for (Buffer b : buffers) {
            if (bytes >= b.len()) {
                bytes -= b.len();
                continue;
            }
            out.add(new Buffer(b.addr() + bytes, (int) (b.len() - bytes)));
            bytes = 0;
        }
        return out;
    }

    @Override
    public void reset() {
        ctx = null;
    }

    @Override
    public void close() {
        ctx = null;
        try {
            if (!readOnly && file.isOpen()) file.flush();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("closing " + image + ": " + e.getMessage(), e);
        } finally {
            file.close();
        }
    }
}

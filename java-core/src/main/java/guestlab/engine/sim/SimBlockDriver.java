package guestlab.engine.sim;

import guestlab.virtio.block.BlockSpec;
import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;

/** The simulated guest's virtio-blk driver: synchronous reads, writes, flushes, one request at a time. */
public final class SimBlockDriver extends SimDriver {
    private static final int CHUNK = 64 * 1024;
    private long header;   // 16-byte request header, then the status byte at +16, in one page
    private long data;     // CHUNK bytes of data buffer

    SimBlockDriver(String name, GuestMemory mem, GuestPages pages, DriverTransport transport, Duration timeout) {
        super(name, mem, pages, transport, timeout);
    }

    @Override
    long driverFeatures() {
        return (1L << BlockSpec.F_RO) | (1L << BlockSpec.F_FLUSH) | (1L << BlockSpec.F_BLK_SIZE)
                | (1L << BlockSpec.F_SEG_MAX);
    }

    @Override
    void started() {
        header = pages.allocate(4096);
        data = pages.allocate(CHUNK);
    }

    /** Capacity in 512-byte sectors, from config space. */
    public long capacity() {
        return ByteBuffer.wrap(config()).order(ByteOrder.LITTLE_ENDIAN).getLong(BlockSpec.CFG_CAPACITY);
    }

    public boolean readOnly() {
        return negotiated(BlockSpec.F_RO);
    }

    public synchronized void write(long sector, byte[] bytes) {
        for (int off = 0; off < bytes.length; off += CHUNK) {
            int n = Math.min(CHUNK, bytes.length - off);
            mem.write(data, bytes, off, n);
            request(BlockSpec.T_OUT, sector + off / BlockSpec.SECTOR, List.of(new Buffer(data, n)), List.of());
        }
    }

    public synchronized byte[] read(long sector, int length) {
        byte[] out = new byte[length];
        for (int off = 0; off < length; off += CHUNK) {
            int n = Math.min(CHUNK, length - off);
            request(BlockSpec.T_IN, sector + off / BlockSpec.SECTOR, List.of(), List.of(new Buffer(data, n)));
            System.arraycopy(mem.read(data, n), 0, out, off, n);
        }
        return out;
    }

    public synchronized void flush() {
        request(BlockSpec.T_FLUSH, 0, List.of(), List.of());
    }

    /** The device's serial (VIRTIO_BLK_T_GET_ID), NUL padding removed. */
    public synchronized String id() {
        request(BlockSpec.T_GET_ID, 0, List.of(), List.of(new Buffer(data, BlockSpec.ID_BYTES)));
        byte[] raw = mem.read(data, BlockSpec.ID_BYTES);
        int n = 0;
        while (n < raw.length && raw[n] != 0) n++;
        return new String(raw, 0, n, java.nio.charset.StandardCharsets.US_ASCII);
    }

    private void request(int type, long sector, List<Buffer> out, List<Buffer> in) {
        mem.writeU32(header, type);
        mem.writeU32(header + 4, 0);
        mem.writeU64(header + 8, sector);
        mem.writeU8(header + 16, 0xff);
        List<Buffer> readable = new java.util.ArrayList<>();
        readable.add(new Buffer(header, BlockSpec.HEADER_SIZE));
        readable.addAll(out);
        List<Buffer> writable = new java.util.ArrayList<>(in);
        writable.add(new Buffer(header + 16, 1));
        roundTrip(0, readable, writable);
        int status = mem.readU8(header + 16);
        if (status != BlockSpec.S_OK) throw new BlockIoException(name, type, sector, status);
    }
}

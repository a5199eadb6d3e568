package guestlab.virtio.block;

import guestlab.memory.GuestMemory;
import guestlab.virtio.BufferRange;
import guestlab.virtio.Buffers;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.RingFault;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static guestlab.virtio.block.BlockSpec.*;

/**
 * One virtio-blk request as a driver laid it out (virtio 1.x section 5.2.6): a 16-byte
 * device-readable header {le32 type, le32 reserved, le64 sector}, the data, and a device-writable
 * status byte last. {@link #parse} checks the shape and says what the request asks for; what
 * to do about it is the device's business. Every request has the guest address of its status
 * byte, which is writable.
 */
public sealed interface BlockRequest {

    /** Guest-physical address of the status byte: the last byte of the last writable buffer. */
    long statusAddr();

    /** VIRTIO_BLK_T_IN: fill the data, which is whole sectors, from {@code sector} on. */
    record Read(GuestMemory memory, Buffers buffers, long offset, long length, long sector, long statusAddr)
            implements BlockRequest, BufferRange {}

    /** VIRTIO_BLK_T_OUT: store the data, which is whole sectors, from {@code sector} on. */
    record Write(GuestMemory memory, Buffers buffers, long offset, long length, long sector, long statusAddr)
            implements BlockRequest, BufferRange {}

    /** VIRTIO_BLK_T_FLUSH: what was written is on stable storage before this completes. */
    record Flush(long statusAddr) implements BlockRequest {}

    /** VIRTIO_BLK_T_GET_ID: up to {@value BlockSpec#ID_BYTES} bytes of serial into the data. */
    record GetId(GuestMemory memory, Buffers buffers, long offset, long length, long statusAddr)
            implements BlockRequest, BufferRange {}

    /**
     * VIRTIO_BLK_T_DISCARD: the data is {@link #segmentCount()} segments of
     * {@value BlockSpec#DISCARD_SEGMENT_SIZE} bytes.
     */
    record Discard(GuestMemory memory, Buffers buffers, long offset, long length, long statusAddr)
            implements BlockRequest, BufferRange {

        public long segmentCount() {
            return length / DISCARD_SEGMENT_SIZE;
        }

        /** Segment {@code i}, read from guest memory now. */
        public Segment segment(long i) {
            byte[] raw = new byte[DISCARD_SEGMENT_SIZE];
            read(i * DISCARD_SEGMENT_SIZE, raw, 0, raw.length);
            ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            return new Segment(b.getLong(0), Integer.toUnsignedLong(b.getInt(8)), b.getInt(12));
        }

        /** One range to discard: {le64 sector, le32 num_sectors, le32 flags}. */
        public record Segment(long sector, long sectors, int flags) {}
    }

    /**
     * A read, write or discard whose data is not whole units (sectors, or discard segments), so
     * there is nothing well-defined to do; the device answers with a status.
     */
    record Misaligned(int type, long sector, long length, long statusAddr) implements BlockRequest {}

    /** A type this parser does not know (5.2.6: the device answers VIRTIO_BLK_S_UNSUPP). */
    record Unsupported(int type, long statusAddr) implements BlockRequest {}

    /**
     * Reads the request {@code chain} carries. A chain without a readable 16-byte header or a
     * writable status byte cannot be answered at all: that is a {@link RingFault} with reason
     * {@link RingFault.Reason#MALFORMED_REQUEST}.
     */
    static BlockRequest parse(GuestMemory mem, DescriptorChain chain) throws RingFault {
        Buffers out = chain.readable();
        Buffers in = chain.writable();
        long readable = out.length();
        if (readable < HEADER_SIZE) {
            throw new RingFault(RingFault.Reason.MALFORMED_REQUEST,
                    "block request without a 16-byte header (head " + chain.head() + ")");
        }
        int last = in.count() - 1;
        if (last < 0 || in.len(last) == 0) {
            throw new RingFault(RingFault.Reason.MALFORMED_REQUEST,
                    "block request without a status byte (head " + chain.head() + ")");
        }
        long status = in.addr(last) + in.len(last) - 1;
        long dataIn = in.length() - 1;
        long dataOut = readable - HEADER_SIZE;
        int type;
        long sector;
        if (out.len(0) >= HEADER_SIZE) {
            type = (int) mem.readU32(out.addr(0));
            sector = mem.readU64(out.addr(0) + 8);
        } else { // the header spread over descriptors
            ByteBuffer h = ByteBuffer.wrap(chain.readBytes(mem, 0, HEADER_SIZE)).order(ByteOrder.LITTLE_ENDIAN);
            type = h.getInt(0);
            sector = h.getLong(8);
        }
        return switch (type) {
            case T_IN -> dataIn % SECTOR != 0 ? new Misaligned(type, sector, dataIn, status)
                    : new Read(mem, in, 0, dataIn, sector, status);
            case T_OUT -> dataOut % SECTOR != 0 ? new Misaligned(type, sector, dataOut, status)
                    : new Write(mem, out, HEADER_SIZE, dataOut, sector, status);
            case T_FLUSH -> new Flush(status);
            case T_GET_ID -> new GetId(mem, in, 0, dataIn, status);
            case T_DISCARD -> dataOut % DISCARD_SEGMENT_SIZE != 0 ? new Misaligned(type, sector, dataOut, status)
                    : new Discard(mem, out, HEADER_SIZE, dataOut, status);
            default -> new Unsupported(type, status);
        };
    }
}

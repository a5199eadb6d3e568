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
 * status byte last. A {@link Parser} checks the shape and says what the request asks for; what
 * to do about it is the device's business. Every request has the guest address of its status
 * byte, which is writable.
 *
 * <p>A parser fills request objects of its own, one of each type, again for every chain, so that
 * a queue's requests allocate nothing: a request describes its chain until the parser's next
 * {@link Parser#parse}, which for a device is while the request is being handled. A handler that
 * keeps anything of it for later copies it.
 */
public sealed interface BlockRequest {

    /** Guest-physical address of the status byte: the last byte of the last writable buffer. */
    long statusAddr();

    /** A request with data: {@link #length()} bytes of one side of the chain, {@link #offset()} bytes in. */
    abstract sealed class DataRequest implements BlockRequest, BufferRange permits SectorRequest, GetId, Discard {
        private GuestMemory memory;
        private Buffers buffers;
        private long offset;
        private long length;
        private long statusAddr;

        private DataRequest() {}

        final void set(GuestMemory memory, Buffers buffers, long offset, long length, long statusAddr) {
            this.memory = memory;
            this.buffers = buffers;
            this.offset = offset;
            this.length = length;
            this.statusAddr = statusAddr;
        }

        @Override
        public GuestMemory memory() {
            return memory;
        }

        @Override
        public Buffers buffers() {
            return buffers;
        }

        @Override
        public long offset() {
            return offset;
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public long statusAddr() {
            return statusAddr;
        }

        @Override
        public String toString() {
            return getClass().getSimpleName() + "[length=" + length + ", statusAddr=0x" + Long.toHexString(statusAddr) + "]";
        }
    }

    /** A read or a write: its data is whole sectors of the disk, from {@link #sector()} on. */
    abstract sealed class SectorRequest extends DataRequest permits Read, Write {
        private long sector;

        private SectorRequest() {}

        final void set(GuestMemory memory, Buffers buffers, long offset, long length, long statusAddr, long sector) {
            set(memory, buffers, offset, length, statusAddr);
            this.sector = sector;
        }

        public long sector() {
            return sector;
        }

        @Override
        public String toString() {
            return getClass().getSimpleName() + "[sector=" + sector + ", length=" + length() + ", statusAddr=0x"
                    + Long.toHexString(statusAddr()) + "]";
        }
    }

    /** VIRTIO_BLK_T_IN: fill the data from the disk. */
    final class Read extends SectorRequest {
        private Read() {}
    }

    /** VIRTIO_BLK_T_OUT: store the data on the disk. */
    final class Write extends SectorRequest {
        private Write() {}
    }

    /** VIRTIO_BLK_T_GET_ID: up to {@value BlockSpec#ID_BYTES} bytes of serial into the data. */
    final class GetId extends DataRequest {
        private GetId() {}
    }

    /**
     * VIRTIO_BLK_T_DISCARD: the data is {@link #segmentCount()} segments of
     * {@value BlockSpec#DISCARD_SEGMENT_SIZE} bytes.
     */
    final class Discard extends DataRequest {
        private Discard() {}

        public long segmentCount() {
            return length() / DISCARD_SEGMENT_SIZE;
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

    /** VIRTIO_BLK_T_FLUSH: what was written is on stable storage before this completes. */
    final class Flush implements BlockRequest {
        private long statusAddr;

        private Flush() {}

        @Override
        public long statusAddr() {
            return statusAddr;
        }

        @Override
        public String toString() {
            return "Flush[statusAddr=0x" + Long.toHexString(statusAddr) + "]";
        }
    }

    /**
     * A read, write or discard whose data is not whole units (sectors, or discard segments), so
     * there is nothing well-defined to do; the device answers with a status.
     */
    final class Misaligned implements BlockRequest {
        private int type;
        private long sector;
        private long length;
        private long statusAddr;

        private Misaligned() {}

        /** The request's type field (T_IN, T_OUT or T_DISCARD). */
        public int type() {
            return type;
        }

        public long sector() {
            return sector;
        }

        /** The length of its data, which is not whole units. */
        public long length() {
            return length;
        }

        @Override
        public long statusAddr() {
            return statusAddr;
        }

        @Override
        public String toString() {
            return "Misaligned[type=" + typeName(type) + ", sector=" + sector + ", length=" + length + ", statusAddr=0x"
                    + Long.toHexString(statusAddr) + "]";
        }
    }

    /** A type this parser does not know (5.2.6: the device answers VIRTIO_BLK_S_UNSUPP). */
    final class Unsupported implements BlockRequest {
        private int type;
        private long statusAddr;

        private Unsupported() {}

        public int type() {
            return type;
        }

        @Override
        public long statusAddr() {
            return statusAddr;
        }

        @Override
        public String toString() {
            return "Unsupported[type=" + type + ", statusAddr=0x" + Long.toHexString(statusAddr) + "]";
        }
    }

    /**
     * Reads the requests chains carry, into request objects it owns and reuses (one parser per
     * queue: it is used by one thread at a time).
     */
    final class Parser {
        private final Read read = new Read();
        private final Write write = new Write();
        private final GetId getId = new GetId();
        private final Discard discard = new Discard();
        private final Flush flush = new Flush();
        private final Misaligned misaligned = new Misaligned();
        private final Unsupported unsupported = new Unsupported();
        private final ByteBuffer header = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);

        /**
         * Reads the request {@code chain} carries; the object it returns is refilled by the next
         * call. A chain without a readable 16-byte header or a writable status byte cannot be
         * answered at all: that is a {@link RingFault} with reason {@link RingFault.Reason#MALFORMED_REQUEST}.
         */
        public BlockRequest parse(GuestMemory mem, DescriptorChain chain) throws RingFault {
            Buffers out = chain.readable();
            Buffers in = chain.writable();
            if (out.length() < HEADER_SIZE) {
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
            long dataOut = out.length() - HEADER_SIZE;
            int type;
            long sector;
            if (out.len(0) >= HEADER_SIZE) {
                type = (int) mem.readU32(out.addr(0));
                sector = mem.readU64(out.addr(0) + 8);
            } else { // the header spread over descriptors
                readHeader(mem, out);
                type = header.getInt(0);
                sector = header.getLong(8);
            }
            return switch (type) {
                case T_IN -> {
                    if (dataIn % SECTOR != 0) yield misaligned(type, sector, dataIn, status);
                    read.set(mem, in, 0, dataIn, status, sector);
                    yield read;
                }
                case T_OUT -> {
                    if (dataOut % SECTOR != 0) yield misaligned(type, sector, dataOut, status);
                    write.set(mem, out, HEADER_SIZE, dataOut, status, sector);
                    yield write;
                }
                case T_FLUSH -> {
                    flush.statusAddr = status;
                    yield flush;
                }
                case T_GET_ID -> {
                    getId.set(mem, in, 0, dataIn, status);
                    yield getId;
                }
                case T_DISCARD -> {
                    if (dataOut % DISCARD_SEGMENT_SIZE != 0) yield misaligned(type, sector, dataOut, status);
                    discard.set(mem, out, HEADER_SIZE, dataOut, status);
                    yield discard;
                }
                default -> {
                    unsupported.type = type;
                    unsupported.statusAddr = status;
                    yield unsupported;
                }
            };
        }

        private Misaligned misaligned(int type, long sector, long length, long status) {
            misaligned.type = type;
            misaligned.sector = sector;
            misaligned.length = length;
            misaligned.statusAddr = status;
            return misaligned;
        }

        /** Copies the first 16 readable bytes, spread over buffers, into {@link #header}. */
        private void readHeader(GuestMemory mem, Buffers out) {
            int at = 0;
            for (int b = 0; b < out.count() && at < HEADER_SIZE; b++) {
                for (int k = 0; k < out.len(b) && at < HEADER_SIZE; k++) header.put(at++, (byte) mem.readU8(out.addr(b) + k));
            }
        }
    }
}

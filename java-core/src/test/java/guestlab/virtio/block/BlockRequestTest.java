package guestlab.virtio.block;

import guestlab.memory.MemfdMemory;
import guestlab.posix.IoVector;
import guestlab.virtio.Buffer;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.RingFault;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

import static guestlab.virtio.block.BlockSpec.*;
import static org.junit.jupiter.api.Assertions.*;

/** virtio-blk chains in real guest memory, read by the parser alone: no queue, no device. */
class BlockRequestTest {
    private final MemfdMemory mem = MemfdMemory.allocate("block-requests", 1 << 20);
    private long next = 0x1000;

    @AfterEach
    void free() {
        mem.close();
    }

    private Buffer room(int len) {
        Buffer b = new Buffer(next, len);
        next += (len + 4095) & ~4095L;
        return b;
    }

    private Buffer put(byte[] bytes) {
        Buffer b = room(bytes.length);
        mem.write(b.addr(), bytes);
        return b;
    }

    private static byte[] header(int type, long sector) {
        return ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(0).putLong(sector).array();
    }

    private static byte[] filled(int len, int value) {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private BlockRequest parse(List<Buffer> readable, List<Buffer> writable) throws RingFault {
        return new BlockRequest.Parser().parse(mem, new DescriptorChain(3, 0, readable, writable, 0));
    }

    /** The pieces a request's data would be read into or written from, as {count, total bytes}. */
    private static List<Long> pieces(BlockRequest.DataRequest r) {
        IoVector v = new IoVector();
        r.gather(v);
        return List.of((long) v.count(), v.length());
    }

    private RingFault malformed(List<Buffer> readable, List<Buffer> writable) {
        RingFault f = assertThrows(RingFault.class, () -> parse(readable, writable));
        assertEquals(RingFault.Reason.MALFORMED_REQUEST, f.reason());
        return f;
    }

    @Test
    void aReadIsItsSectorTheWritableDataAndTheStatusByteAfterIt() throws RingFault {
        Buffer a = room(512), b = room(1024), status = room(1);
        DescriptorChain chain = new DescriptorChain(3, 0, List.of(put(header(T_IN, 42))), List.of(a, b, status), 0);
        var r = assertInstanceOf(BlockRequest.Read.class, new BlockRequest.Parser().parse(mem, chain));
        assertEquals(42, r.sector());
        assertEquals(1536, r.length());
        assertEquals(0, r.offset());
        assertSame(chain.writable(), r.buffers(), "the chain's own buffers, not a copy");
        assertEquals(status.addr(), r.statusAddr());
        assertEquals(List.of(2L, 1536L), pieces(r), "two pieces, the status byte not among them");
    }

    @Test
    void aStatusByteAtTheEndOfADataBufferIsNotData() throws RingFault {
        Buffer dataAndStatus = room(513);
        var r = assertInstanceOf(BlockRequest.Read.class, parse(List.of(put(header(T_IN, 0))), List.of(dataAndStatus)));
        assertEquals(512, r.length());
        assertEquals(dataAndStatus.addr() + 512, r.statusAddr());
        assertEquals(List.of(1L, 512L), pieces(r));
    }

    @Test
    void aWriteIsTheReadableBytesPastTheHeader() throws RingFault {
        byte[] first = filled(512, 1), second = filled(1024, 2);
        byte[] headerAndFirst = new byte[HEADER_SIZE + 512];
        System.arraycopy(header(T_OUT, 7), 0, headerAndFirst, 0, HEADER_SIZE);
        System.arraycopy(first, 0, headerAndFirst, HEADER_SIZE, 512);
        Buffer status = room(1);
        var w = assertInstanceOf(BlockRequest.Write.class, parse(List.of(put(headerAndFirst), put(second)), List.of(status)));
        assertEquals(7, w.sector());
        assertEquals(HEADER_SIZE, w.offset());
        assertEquals(1536, w.length());
        assertEquals(status.addr(), w.statusAddr());
        byte[] data = new byte[1536];
        w.read(0, data, 0, data.length);
        assertArrayEquals(first, Arrays.copyOf(data, 512));
        assertArrayEquals(second, Arrays.copyOfRange(data, 512, 1536));
        assertEquals(List.of(2L, 1536L), pieces(w), "the data past the header, in two pieces");
        assertThrows(IndexOutOfBoundsException.class, () -> w.read(1535, new byte[2], 0, 2), "not past the data");
    }

    @Test
    void aHeaderSplitOverDescriptorsIsReadWhole() throws RingFault {
        byte[] h = header(T_OUT, 0x0102030405060708L);
        var w = assertInstanceOf(BlockRequest.Write.class, parse(
                List.of(put(Arrays.copyOf(h, 8)), put(Arrays.copyOfRange(h, 8, 16)), put(new byte[512])), List.of(room(1))));
        assertEquals(0x0102030405060708L, w.sector());
        assertEquals(512, w.length());
        var odd = assertInstanceOf(BlockRequest.Write.class, parse(List.of(put(Arrays.copyOf(h, 5)), room(0),
                put(Arrays.copyOfRange(h, 5, 16)), put(new byte[512])), List.of(room(1))));
        assertEquals(0x0102030405060708L, odd.sector(), "an empty descriptor in the header is no byte of it");
    }

    @Test
    void aParserRefillsItsRequestsAndALaterOneShowsNothingOfAnEarlierOne() throws RingFault {
        BlockRequest.Parser parser = new BlockRequest.Parser();
        Buffer status = room(1);
        var first = assertInstanceOf(BlockRequest.Write.class, parser.parse(mem,
                new DescriptorChain(0, 0, List.of(put(header(T_OUT, 7)), put(filled(1024, 1))), List.of(status), 0)));
        assertEquals(1024, first.length());
        byte[] data = filled(512, 2);
        var second = assertInstanceOf(BlockRequest.Write.class, parser.parse(mem,
                new DescriptorChain(1, 1, List.of(put(header(T_OUT, 9)), put(data)), List.of(status), 0)));
        assertSame(first, second, "one request object per type and parser");
        assertEquals(9, second.sector());
        assertEquals(512, second.length());
        byte[] got = new byte[512];
        second.read(0, got, 0, got.length);
        assertArrayEquals(data, got);
        assertThrows(IndexOutOfBoundsException.class, () -> second.read(512, new byte[1], 0, 1), "nothing of the longer data before");
        assertEquals(List.of(1L, 512L), pieces(second));
        var flush = assertInstanceOf(BlockRequest.Flush.class, parser.parse(mem,
                new DescriptorChain(2, 2, List.of(put(header(T_FLUSH, 0))), List.of(status), 0)));
        assertEquals(status.addr(), flush.statusAddr());
    }

    @Test
    void theSectorIsUnsigned64Bits() throws RingFault {
        var w = assertInstanceOf(BlockRequest.Write.class, parse(List.of(put(header(T_OUT, -1L)), put(new byte[512])), List.of(room(1))));
        assertEquals(-1L, w.sector(), "2^64 - 1, left for the device to find out of range");
    }

    @Test
    void dataThatIsNotWholeSectorsIsMisaligned() throws RingFault {
        Buffer status = room(1);
        var out = assertInstanceOf(BlockRequest.Misaligned.class, parse(List.of(put(header(T_OUT, 5)), put(new byte[100])), List.of(status)));
        assertEquals(T_OUT, out.type());
        assertEquals(5, out.sector());
        assertEquals(100, out.length());
        assertEquals(status.addr(), out.statusAddr());
        var in = assertInstanceOf(BlockRequest.Misaligned.class, parse(List.of(put(header(T_IN, 5))), List.of(room(600))));
        assertEquals(T_IN, in.type());
        assertEquals(599, in.length());
    }

    @Test
    void flushGetIdAndUnknownTypes() throws RingFault {
        Buffer status = room(1);
        assertEquals(status.addr(), assertInstanceOf(BlockRequest.Flush.class, parse(List.of(put(header(T_FLUSH, 0))), List.of(status)))
                .statusAddr());
        Buffer id = room(ID_BYTES);
        var g = assertInstanceOf(BlockRequest.GetId.class, parse(List.of(put(header(T_GET_ID, 0))), List.of(id, status)));
        assertEquals(ID_BYTES, g.length());
        assertEquals(status.addr(), g.statusAddr());
        var unknown = assertInstanceOf(BlockRequest.Unsupported.class, parse(List.of(put(header(13, 0))), List.of(status)),
                "WRITE_ZEROES is not a type this parser knows");
        assertEquals(13, unknown.type());
        assertEquals(status.addr(), unknown.statusAddr());
    }

    @Test
    void aDiscardIsItsSegments() throws RingFault {
        ByteBuffer segments = ByteBuffer.allocate(2 * DISCARD_SEGMENT_SIZE).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(100).putInt(8).putInt(0)
                .putLong(-2L).putInt(-1).putInt(1);
        Buffer status = room(1);
        var d = assertInstanceOf(BlockRequest.Discard.class,
                parse(List.of(put(header(T_DISCARD, 0)), put(segments.array())), List.of(status)));
        assertEquals(2, d.segmentCount());
        assertEquals(new BlockRequest.Discard.Segment(100, 8, 0), d.segment(0));
        assertEquals(new BlockRequest.Discard.Segment(-2L, 0xffffffffL, 1), d.segment(1));
        assertEquals(status.addr(), d.statusAddr());
        assertEquals(0, assertInstanceOf(BlockRequest.Discard.class,
                parse(List.of(put(header(T_DISCARD, 0))), List.of(status))).segmentCount());
        var ragged = assertInstanceOf(BlockRequest.Misaligned.class,
                parse(List.of(put(header(T_DISCARD, 0)), put(new byte[20])), List.of(status)));
        assertEquals(T_DISCARD, ragged.type());
        assertEquals(20, ragged.length());
    }

    @Test
    void aChainWithoutAWholeHeaderIsMalformed() {
        assertTrue(malformed(List.of(put(new byte[8])), List.of(room(1))).getMessage().contains("without a 16-byte header"));
        malformed(List.of(), List.of(room(1)));
        malformed(List.of(put(new byte[8]), put(new byte[7])), List.of(room(1)));
    }

    @Test
    void aChainWithoutAStatusByteIsMalformed() {
        assertTrue(malformed(List.of(put(header(T_OUT, 0)), put(new byte[512])), List.of()).getMessage()
                .contains("without a status byte"));
        malformed(List.of(put(header(T_IN, 0))), List.of(room(512), room(0)));
        malformed(List.of(put(header(T_FLUSH, 0))), List.of());
    }
}

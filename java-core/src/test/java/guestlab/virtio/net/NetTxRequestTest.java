package guestlab.virtio.net;

import guestlab.memory.MemfdMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DescriptorChain;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** transmitq chains in real guest memory, read by the parser alone: no queue, no device. */
class NetTxRequestTest {
    private static final int HDR = 12;
    private final MemfdMemory mem = MemfdMemory.allocate("net-requests", 1 << 20);
    private long next = 0x1000;

    @AfterEach
    void free() {
        mem.close();
    }

    private Buffer put(byte[] bytes) {
        Buffer b = new Buffer(next, bytes.length);
        next += (bytes.length + 4095) & ~4095L;
        mem.write(b.addr(), bytes);
        return b;
    }

    private NetTxRequest parse(Buffer... readable) {
        return NetTxRequest.parse(mem, new DescriptorChain(0, 0, List.of(readable), List.of(), 0), HDR);
    }

    private static byte[] frame(int len) {
        byte[] f = new byte[len];
        for (int i = 0; i < len; i++) f[i] = (byte) (i + 1);
        return f;
    }

    @Test
    void theFrameIsWhatFollowsTheHeader() {
        byte[] f = frame(60);
        byte[] hdrAndStart = new byte[HDR + 20];
        System.arraycopy(f, 0, hdrAndStart, HDR, 20);
        var got = assertInstanceOf(NetTxRequest.Frame.class, parse(put(hdrAndStart), put(Arrays.copyOfRange(f, 20, 60))));
        assertEquals(HDR, got.offset());
        assertEquals(60, got.length());
        assertArrayEquals(f, got.bytes());
    }

    @Test
    void framesFrom14ToMaxFrameBytesAreCarried() {
        assertInstanceOf(NetTxRequest.Frame.class, parse(put(new byte[HDR]), put(frame(14))));
        assertInstanceOf(NetTxRequest.Frame.class, parse(put(new byte[HDR]), put(frame(NetSpec.MAX_FRAME))));
    }

    @Test
    void framesOfOtherLengthsAreBadLengths() {
        assertEquals(new NetTxRequest.BadLength(13), parse(put(new byte[HDR]), put(frame(13))));
        assertEquals(new NetTxRequest.BadLength(NetSpec.MAX_FRAME + 1), parse(put(new byte[HDR + NetSpec.MAX_FRAME + 1])));
        assertEquals(new NetTxRequest.BadLength(-7), parse(put(new byte[5])), "the header itself is short");
    }
}

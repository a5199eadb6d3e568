package guestlab.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Reads a fuzzer's input as little-endian fields, front to back. Past the end every field reads
 * as zero and {@link #done()} is true, so a decoder never has to check lengths: a short input is
 * just a sequence that ends early. The same layout is what the seed builders write, so a seed
 * file is readable as the operations it encodes.
 */
public final class ByteCursor {
    private final byte[] data;
    private int pos;

    public ByteCursor(byte[] data) {
        this.data = data;
    }

    public boolean done() {
        return pos >= data.length;
    }

    public int remaining() {
        return Math.max(0, data.length - pos);
    }

    public int u8() {
        return pos < data.length ? Byte.toUnsignedInt(data[pos++]) : 0;
    }

    public int u16() {
        return u8() | u8() << 8;
    }

    public long u32() {
        return Integer.toUnsignedLong(u16() | u16() << 16);
    }

    public long u64() {
        return u32() | u32() << 32;
    }

    /** Up to {@code n} bytes (fewer at the end of the input). */
    public byte[] bytes(int n) {
        int take = Math.max(0, Math.min(n, data.length - pos));
        byte[] out = Arrays.copyOfRange(data, pos, pos + take);
        pos += take;
        return out;
    }

    /** A u16 length, at most {@code max}, then that many bytes. */
    public byte[] lengthPrefixed(int max) {
        return bytes(Math.min(u16(), max));
    }

    /** Builds inputs in the layout {@link ByteCursor} reads: for seed corpora and tests. */
    public static final class Writer {
        private ByteBuffer b = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

        private Writer room(int n) {
            if (b.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
                bigger.put(b.flip());
                b = bigger;
            }
            return this;
        }

        public Writer u8(int v) {
            room(1).b.put((byte) v);
            return this;
        }

        public Writer u16(int v) {
            room(2).b.putShort((short) v);
            return this;
        }

        public Writer u32(long v) {
            room(4).b.putInt((int) v);
            return this;
        }

        public Writer u64(long v) {
            room(8).b.putLong(v);
            return this;
        }

        public Writer bytes(byte[] v) {
            room(v.length).b.put(v);
            return this;
        }

        public Writer lengthPrefixed(byte[] v) {
            return u16(v.length).bytes(v);
        }

        public byte[] toByteArray() {
            return Arrays.copyOf(b.array(), b.position());
        }
    }
}

package guestlab.virtio;

import guestlab.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A validated descriptor chain as the device sees it: the device-readable buffers first, then
 * the device-writable ones (section 2.7.4.2), each inside guest memory. {@code availIndex} is the
 * free-running avail index it was taken at; {@code takenNanos} when.
 */
public record DescriptorChain(int head, int availIndex, List<Buffer> readable, List<Buffer> writable,
                              long takenNanos) {

    public long readableLength() {
        return BufferRange.lengthOf(readable);
    }

    public long writableLength() {
        return BufferRange.lengthOf(writable);
    }

    /** Reads up to {@code max} device-readable bytes, starting {@code skip} bytes in. */
    public byte[] readBytes(GuestMemory mem, long skip, int max) {
        long n = Math.max(0, Math.min(max, readableLength() - skip));
        byte[] out = new byte[(int) n];
        int done = 0;
        long pos = 0;
        for (Buffer b : readable) {
            if (done == n) break;
            long start = Math.max(skip - pos, 0);
            if (start < b.len()) {
                int take = (int) Math.min(b.len() - start, n - done);
                MemorySegment.copy(mem.slice(b.addr() + start, take), ValueLayout.JAVA_BYTE, 0, out, done, take);
                done += take;
            }
            pos += b.len();
        }
        return out;
    }

    /**
     * Writes {@code data[off, off+len)} into the device-writable buffers starting {@code skip}
     * bytes in; returns how many bytes fit.
     */
    public int writeBytes(GuestMemory mem, long skip, byte[] data, int off, int len) {
        int done = 0;
        long pos = 0;
        for (Buffer b : writable) {
            if (done == len) break;
            long start = Math.max(skip - pos, 0);
            if (start < b.len()) {
                int put = (int) Math.min(b.len() - start, len - done);
                mem.write(b.addr() + start, data, off + done, put);
                done += put;
            }
            pos += b.len();
        }
        return done;
    }
}

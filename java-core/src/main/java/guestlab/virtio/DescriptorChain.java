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
        byte[] out = new byte[(int) Math.max(0, Math.min(max, readableLength() - skip))];
        BufferWalk.each(readable, skip, out.length, (addr, done, len) ->
                MemorySegment.copy(mem.slice(addr, len), ValueLayout.JAVA_BYTE, 0, out, (int) done, (int) len));
        return out;
    }

    /**
     * Writes {@code data[off, off+len)} into the device-writable buffers starting {@code skip}
     * bytes in; returns how many bytes fit.
     */
    public int writeBytes(GuestMemory mem, long skip, byte[] data, int off, int len) {
        return (int) BufferWalk.each(writable, skip, len, (addr, done, n) -> mem.write(addr, data, off + (int) done, (int) n));
    }
}

package guestlab.virtio;

import guestlab.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A validated descriptor chain as the device sees it: the device-readable buffers first, then
 * the device-writable ones (section 2.7.4.2), each inside guest memory. {@link #availIndex()} is
 * the free-running avail index it was taken at; {@link #takenNanos()} when.
 *
 * <p>A {@link DeviceQueue} keeps one chain object per head and refills it each time the driver
 * offers that head, so taking a chain allocates nothing. The object describes the chain while it
 * is in flight, from {@link DeviceQueue#pop()} until it is pushed back; a device that keeps
 * anything of a request past that copies it.
 */
public final class DescriptorChain {
    private final Buffers readable = new Buffers();
    private final Buffers writable = new Buffers();
    private int head;
    private int availIndex;
    private long takenNanos;
    private boolean inFlight;
    /** What the queue's walk gives each buffer it validated to (an indirect descriptor's table entries follow it). */
    final DescriptorWalk.Visitor collect = (index, addr, len, flags, next, inTable) -> {
        if ((flags & VringLayout.DESC_F_INDIRECT) != 0) return;
        ((flags & VringLayout.DESC_F_WRITE) != 0 ? writable : readable).add(addr, (int) len);
    };

    /** A queue's chain object, filled when the queue takes a chain. */
    DescriptorChain() {}

    /** A chain given whole, not taken from a queue: to hand a request to a parser, say. */
    public DescriptorChain(int head, int availIndex, List<Buffer> readable, List<Buffer> writable, long takenNanos) {
        this.head = head;
        this.availIndex = availIndex;
        this.takenNanos = takenNanos;
        for (Buffer b : readable) this.readable.add(b.addr(), b.len());
        for (Buffer b : writable) this.writable.add(b.addr(), b.len());
    }

    /** Starts refilling the object with the chain at {@code head}, taken at avail index {@code availIndex}. */
    void take(int head, int availIndex) {
        this.head = head;
        this.availIndex = availIndex;
        readable.clear();
        writable.clear();
    }

    /** The walk found the chain valid: it is in flight from now on. */
    void taken(long nanos) {
        takenNanos = nanos;
        inFlight = true;
    }

    /** The chain went back to the driver. */
    void returned() {
        inFlight = false;
    }

    boolean inFlight() {
        return inFlight;
    }

    public int head() {
        return head;
    }

    public int availIndex() {
        return availIndex;
    }

    public long takenNanos() {
        return takenNanos;
    }

    /** The device-readable buffers, in order. */
    public Buffers readable() {
        return readable;
    }

    /** The device-writable buffers, in order. */
    public Buffers writable() {
        return writable;
    }

    public long readableLength() {
        return readable.length();
    }

    public long writableLength() {
        return writable.length();
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

    @Override
    public String toString() {
        return "DescriptorChain[head=" + head + ", availIndex=" + availIndex + ", readable=" + readable + ", writable=" + writable + "]";
    }
}

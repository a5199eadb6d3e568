package guestlab.virtio.net;

import guestlab.memory.GuestMemory;
import guestlab.virtio.BufferRange;
import guestlab.virtio.Buffers;
import guestlab.virtio.DescriptorChain;

/**
 * One chain from the transmitq (virtio 1.x section 5.1.6.2): a virtio_net_hdr, then the
 * Ethernet frame, both device-readable. {@link #parse} tells a frame from a chain whose frame
 * cannot be carried; the header's offload fields are not read, as no offload is offered.
 */
public sealed interface NetTxRequest {

    /** An Ethernet frame of 14 to {@value NetSpec#MAX_FRAME} bytes: the range past the header. */
    record Frame(GuestMemory memory, Buffers buffers, long offset, long length)
            implements NetTxRequest, BufferRange {

        /** The frame's bytes, copied out of guest memory. */
        public byte[] bytes() {
            byte[] frame = new byte[(int) length];
            read(0, frame, 0, frame.length);
            return frame;
        }
    }

    /**
     * A chain whose frame, {@code length} bytes past the header (negative if the header itself
     * is short), is too short for an Ethernet header or longer than {@value NetSpec#MAX_FRAME}.
     */
    record BadLength(long length) implements NetTxRequest {}

    /** Reads the frame {@code chain} carries behind a {@code headerSize}-byte header. */
    static NetTxRequest parse(GuestMemory mem, DescriptorChain chain, int headerSize) {
        long length = chain.readableLength() - headerSize;
        if (length < 14 || length > NetSpec.MAX_FRAME) return new BadLength(length);
        return new Frame(mem, chain.readable(), headerSize, length);
    }
}

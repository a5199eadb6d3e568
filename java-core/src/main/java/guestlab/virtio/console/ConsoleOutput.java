package guestlab.virtio.console;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffers;
import guestlab.virtio.DescriptorChain;

/**
 * What a driver wrote to a port: one chain from its transmitq (virtio 1.x section 5.3.6), whose
 * device-readable buffers are the bytes, in order. Device-writable buffers carry nothing. The
 * buffers are the chain's own: valid while it is being handled.
 */
public record ConsoleOutput(GuestMemory memory, Buffers buffers) {

    public static ConsoleOutput parse(GuestMemory mem, DescriptorChain chain) {
        return new ConsoleOutput(mem, chain.readable());
    }
}

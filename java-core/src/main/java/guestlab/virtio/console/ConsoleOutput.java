package guestlab.virtio.console;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.DescriptorChain;

import java.util.List;

/**
 * What a driver wrote to a port: one chain from its transmitq (virtio 1.x section 5.3.6), whose
 * device-readable buffers are the bytes, in order. Device-writable buffers carry nothing.
 */
public record ConsoleOutput(GuestMemory memory, List<Buffer> buffers) {

    public static ConsoleOutput parse(GuestMemory mem, DescriptorChain chain) {
        return new ConsoleOutput(mem, chain.readable());
    }
}

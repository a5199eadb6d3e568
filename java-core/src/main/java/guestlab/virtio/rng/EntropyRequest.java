package guestlab.virtio.rng;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffers;
import guestlab.virtio.DescriptorChain;

/**
 * A driver's request for entropy (virtio 1.x section 5.4.6): the chain's device-writable
 * buffers, to be filled with random bytes from the start. The device may fill fewer than offered.
 * The buffers are the chain's own: valid while it is being handled.
 */
public record EntropyRequest(GuestMemory memory, Buffers buffers) {

    public static EntropyRequest parse(GuestMemory mem, DescriptorChain chain) {
        return new EntropyRequest(mem, chain.writable());
    }
}

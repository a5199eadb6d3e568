package guestlab.devices;

import guestlab.virtio.block.BlockCompletion;
import guestlab.virtio.block.BlockRequest;

/**
 * What a {@link BlockDevice} does with each parsed request. The device writes the completion's
 * status byte and pushes the chain; the handler does the work. The default executes against the
 * device's image; another handler can wrap it (to inject faults or latency) or replace it.
 * {@code dataWritten} counts bytes put into the request's data, at most its data length.
 */
@FunctionalInterface
public interface BlockHandler {
    BlockCompletion handle(BlockRequest request);
}

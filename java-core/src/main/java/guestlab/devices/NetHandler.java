package guestlab.devices;

import guestlab.virtio.net.NetTxRequest;

/**
 * What a {@link NetDevice} does with each chain the driver transmits. The default sends a frame
 * into the device's switch (while the link is up) and drops a chain of bad length with a warning;
 * another handler can wrap it (to inject faults or latency) or replace it.
 */
@FunctionalInterface
public interface NetHandler {
    /** Returns how many bytes it wrote into the request's chain (at most its writable length). */
    int handle(NetTxRequest request);
}

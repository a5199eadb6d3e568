package guestlab.devices;

import guestlab.virtio.rng.EntropyRequest;

/**
 * What a {@link RngDevice} does with a request for entropy. The default fills it from the
 * device's SecureRandom; another handler can wrap it (to inject faults or latency) or replace it.
 */
@FunctionalInterface
public interface RngHandler {
    /** Returns how many bytes it wrote into the request's chain (at most its writable length). */
    int handle(EntropyRequest request);
}

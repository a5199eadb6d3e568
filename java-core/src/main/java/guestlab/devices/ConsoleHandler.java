package guestlab.devices;

import guestlab.virtio.console.ConsoleOutput;

/**
 * What a {@link ConsoleDevice} does with the bytes the driver writes. The default gives them to
 * the device's {@link ConsoleHost}; another handler can wrap it (to inject faults or latency) or
 * replace it.
 */
@FunctionalInterface
public interface ConsoleHandler {
    /** Returns how many bytes it wrote into the request's chain (at most its writable length). */
    int handle(ConsoleOutput request);
}

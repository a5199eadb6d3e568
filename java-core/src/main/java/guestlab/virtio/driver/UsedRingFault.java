package guestlab.virtio.driver;

import guestlab.virtio.RingFault;

/**
 * The device broke a used-ring rule, as its driver sees it (virtio 1.x section 2.7.8): a used.idx
 * past what is in flight, a head that is not in flight, a length past the chain's writable
 * bytes. The queue stays broken; {@link #reason()} names the rule, the message adds the numbers.
 */
public final class UsedRingFault extends IllegalStateException {
    private final RingFault.Reason reason;

    public UsedRingFault(RingFault.Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public RingFault.Reason reason() {
        return reason;
    }
}

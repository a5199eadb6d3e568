package guestlab.virtio;

/**
 * The driver broke a virtqueue rule. The device that sees it goes NEEDS_RESET (section 2.1.2);
 * nothing outside guest memory has been touched. {@link #reason()} says which rule, as one
 * documented value per rule (the model: rust-vmm virtio-queue's error enum); the message adds
 * the numbers, for people. The same reasons name the device's rules as a driver sees them
 * broken (the {@code USED_} and {@code DEVICE_} values), where a queue is watched from its
 * driver's side ({@link QueueState.Side#DRIVER}).
 */
public final class RingFault extends Exception {

    /** Which rule was broken: the driver's, as the device saw it, or (USED_, DEVICE_) the device's, as the driver saw it. */
    public enum Reason {
        /** The descriptor table, avail ring or used ring is not inside guest memory (2.7). */
        RING_OUTSIDE_MEMORY,
        /** avail.idx ran more than a queue's worth ahead of the device (2.7.6). */
        AVAIL_INDEX_TOO_FAR,
        /** An avail ring entry names a descriptor outside the table (2.7.6). */
        HEAD_OUT_OF_RANGE,
        /** An avail ring entry names a head whose chain the device has not returned: not free descriptors (2.7.13). */
        HEAD_IN_FLIGHT,
        /** A descriptor's next field points outside its table (2.7.5). */
        NEXT_OUT_OF_RANGE,
        /** Following next links never ends (2.7.5: a chain is at most the table's length). */
        CHAIN_LOOP,
        /** A buffer is not inside guest memory, or longer than 2^31 - 1 bytes. */
        BUFFER_OUTSIDE_MEMORY,
        /** A device-readable descriptor follows a device-writable one (2.7.4.2). */
        READABLE_AFTER_WRITABLE,
        /** An indirect descriptor where VIRTIO_F_INDIRECT_DESC was not negotiated (2.7.5.3.1). */
        INDIRECT_NOT_NEGOTIATED,
        /** An indirect descriptor inside an indirect table (2.7.5.3.1). */
        INDIRECT_NESTED,
        /** An indirect descriptor that also has NEXT set (2.7.5.3.1). */
        INDIRECT_WITH_NEXT,
        /** An indirect table of length 0, not a multiple of 16, or longer than the largest queue. */
        INDIRECT_TABLE_SIZE,
        /** An indirect table not inside guest memory. */
        INDIRECT_TABLE_OUTSIDE_MEMORY,
        /** The chain is a valid chain but not a request this device understands the shape of (device sections 5.x). */
        MALFORMED_REQUEST,
        /** The queue broke earlier; nothing more is taken from it until a reset. */
        QUEUE_BROKEN,
        /** Seen by the driver: used.idx ran further ahead than the driver has chains in flight (2.7.8). */
        USED_INDEX_TOO_FAR,
        /** Seen by the driver: a used element names a head outside the table or not in flight (2.7.8). */
        USED_HEAD_NOT_IN_FLIGHT,
        /** Seen by the driver: a used element's len is more than its chain's device-writable bytes (2.7.8.2). */
        USED_LENGTH_TOO_LONG,
        /** Seen by the driver: the device set NEEDS_RESET (2.1.2); why is the device's to say. */
        DEVICE_NEEDS_RESET
    }

    private final Reason reason;

    public RingFault(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}

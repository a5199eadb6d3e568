package guestlab.events;

/**
 * One observable thing a guest's devices did. Ring events carry their numbers as fields, so a
 * device thread formats no text for them; {@link #toString()} is for people.
 *
 * @param nanos        {@link System#nanoTime()} when it happened
 * @param guest        guest name
 * @param device       device name (e.g. "block0"), or "" for guest-level events
 * @param queue        virtqueue index, or -1
 * @param kind         what happened
 * @param index        the ring index involved (avail index for REQUEST, used index for COMPLETION and
 *                     INTERRUPT, the kick count for KICK), or -1
 * @param head         the descriptor chain's head, or -1
 * @param length       bytes moved (REQUEST: readable bytes the device was given; COMPLETION: bytes
 *                     written into the chain), or -1
 * @param latencyNanos COMPLETION: time from taking the chain to returning it; otherwise -1
 * @param detail       free text, for people ("" on the hot path)
 */
public record Event(long nanos, String guest, String device, int queue, EventKind kind,
                    long index, int head, long length, long latencyNanos, String detail) {

    /** An event about a guest, device or queue that is not a ring operation: only words. */
    public static Event note(String guest, String device, int queue, EventKind kind, String detail) {
        return new Event(System.nanoTime(), guest, device, queue, kind, -1, -1, -1, -1, detail);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        b.append(kind).append(' ').append(guest);
        if (!device.isEmpty()) b.append('/').append(device);
        if (queue >= 0) b.append(" q").append(queue);
        if (index >= 0) b.append(" idx=").append(index);
        if (head >= 0) b.append(" head=").append(head);
        if (length >= 0) b.append(" len=").append(length);
        if (latencyNanos >= 0) b.append(" latency=").append(latencyNanos / 1000).append("us");
        if (!detail.isEmpty()) b.append(" ").append(detail);
        return b.toString();
    }
}

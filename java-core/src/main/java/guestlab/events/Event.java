package guestlab.events;

/**
 * One observable thing a guest's devices did.
 *
 * @param nanos  {@link System#nanoTime()} when it happened
 * @param guest  guest name
 * @param device device name (e.g. "block0"), or "" for guest-level events
 * @param queue  virtqueue index, or -1
 * @param kind   what happened
 * @param index  the ring index involved (avail index for REQUEST, used index for COMPLETION and
 *               INTERRUPT, the kick count for KICK), or -1
 * @param head   the descriptor chain's head, or -1
 * @param length bytes moved (COMPLETION: bytes written into the chain), or -1
 * @param detail free text, for people
 */
public record Event(long nanos, String guest, String device, int queue, EventKind kind,
                    long index, int head, long length, String detail) {

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        b.append(kind).append(' ').append(guest);
        if (!device.isEmpty()) b.append('/').append(device);
        if (queue >= 0) b.append(" q").append(queue);
        if (index >= 0) b.append(" idx=").append(index);
        if (head >= 0) b.append(" head=").append(head);
        if (length >= 0) b.append(" len=").append(length);
        if (!detail.isEmpty()) b.append(" ").append(detail);
        return b.toString();
    }
}

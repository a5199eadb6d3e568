package guestlab.events;

import java.util.ArrayList;
import java.util.List;

/**
 * The last {@code capacity} events of an {@link EventBus}, oldest overwritten first. A slot holds
 * an event's fields as they were published, or the {@link Event} itself when one was made anyway,
 * so keeping a ring event allocates nothing: its record is made when someone asks for
 * {@link #events()}. Publishers on several device threads keep events at once; a lock orders them.
 */
final class EventRing {
    private final int capacity;
    private final Event[] made;          // the published Event, or null: the fields below say it
    private final long[] nanos;
    private final String[] guest;
    private final String[] device;
    private final int[] queue;
    private final EventKind[] kind;
    private final long[] index;
    private final int[] head;
    private final long[] length;
    private final long[] latencyNanos;
    private final String[] detail;
    private long kept; // events kept since the start; the next goes to slot kept % capacity

    EventRing(int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("an event ring holds at least one event, not " + capacity);
        this.capacity = capacity;
        made = new Event[capacity];
        nanos = new long[capacity];
        guest = new String[capacity];
        device = new String[capacity];
        queue = new int[capacity];
        kind = new EventKind[capacity];
        index = new long[capacity];
        head = new int[capacity];
        length = new long[capacity];
        latencyNanos = new long[capacity];
        detail = new String[capacity];
    }

    synchronized void keep(Event e) {
        made[next()] = e;
    }

    /** Keeps an event given by its fields (those of {@link Event}), without making it. */
    synchronized void keep(long nanos, String guest, String device, int queue, EventKind kind, long index, int head,
                           long length, long latencyNanos, String detail) {
        int i = next();
        made[i] = null;
        this.nanos[i] = nanos;
        this.guest[i] = guest;
        this.device[i] = device;
        this.queue[i] = queue;
        this.kind[i] = kind;
        this.index[i] = index;
        this.head[i] = head;
        this.length[i] = length;
        this.latencyNanos[i] = latencyNanos;
        this.detail[i] = detail;
    }

    /** The events kept, oldest first. */
    synchronized List<Event> events() {
        int n = (int) Math.min(kept, capacity);
        List<Event> out = new ArrayList<>(n);
        for (long k = kept - n; k < kept; k++) {
            int i = (int) (k % capacity);
            out.add(made[i] != null ? made[i] : new Event(nanos[i], guest[i], device[i], queue[i], kind[i], index[i], head[i],
                    length[i], latencyNanos[i], detail[i]));
        }
        return out;
    }

    private int next() {
        return (int) (kept++ % capacity);
    }
}

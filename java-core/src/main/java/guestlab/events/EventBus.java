package guestlab.events;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A guest's event stream: subscribers see every event as it happens, and the last
 * {@code capacity} events are kept for inspection. Publishing with no subscribers costs a
 * volatile read and a short critical section, so device paths can publish unconditionally.
 *
 * <p>A subscriber that throws does not stop the publisher (often a device thread) or the other
 * subscribers, and keeps getting events. Its failures are counted ({@link Subscription#failures})
 * and its first one is reported once, as a {@link EventKind#HOST_WARNING} event kept with the
 * others and given to every other subscriber (never to the failing one).
 */
public final class EventBus {
    private final CopyOnWriteArrayList<GuardedListener<Event>> subscribers = new CopyOnWriteArrayList<>();
    private final ArrayDeque<Event> recent;
    private final int capacity;

    public EventBus(int capacity) {
        this.capacity = capacity;
        this.recent = new ArrayDeque<>(capacity);
    }

    public void publish(Event e) {
        keep(e);
        deliver(e, null);
    }

    /** Subscribes; the handle counts the subscriber's failures, and closing it unsubscribes. */
    public Subscription subscribe(Consumer<Event> subscriber) {
        GuardedListener<Event> guarded = new GuardedListener<>(subscriber);
        subscribers.add(guarded);
        return new Subscription(guarded, () -> subscribers.remove(guarded));
    }

    public List<Event> recent() {
        synchronized (recent) {
            return new ArrayList<>(recent);
        }
    }

    private void keep(Event e) {
        synchronized (recent) {
            if (recent.size() == capacity) recent.removeFirst();
            recent.addLast(e);
        }
    }

    /** Gives {@code e} to every subscriber but {@code skip}, reporting each one's first failure. */
    private void deliver(Event e, GuardedListener<Event> skip) {
        for (GuardedListener<Event> s : subscribers) {
            if (s == skip) continue;
            Throwable first = s.deliver(e);
            if (first != null) reportFirstFailure(s, e, first);
        }
    }

    /**
     * Tells the other subscribers and {@link #recent} that {@code failing} threw. It is not given
     * the report itself (it might throw on it). A subscriber whose first failure is on a report
     * is reported in turn; each subscriber is reported at most once, so that nests no deeper
     * than there are subscribers.
     */
    private void reportFirstFailure(GuardedListener<Event> failing, Event during, Throwable failure) {
        Event report = Event.note(during.guest(), "", -1, EventKind.HOST_WARNING, "an event subscriber threw "
                + failure + " on " + during.kind() + "; it keeps getting events, and its later failures are only counted");
        keep(report);
        deliver(report, failing);
    }
}

package guestlab.events;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A guest's event stream: subscribers see the events they asked for as they happen, and the last
 * {@code capacity} events are kept for inspection ({@link #recent()}).
 *
 * <p>Device threads publish ring events (kicks, requests, completions, interrupts) by their fields
 * ({@link #publish(long, String, String, int, EventKind, long, int, long, long, String)}): while no
 * subscriber wants that kind, the fields go straight into the ring of recent events and no
 * {@link Event} is made, so a device path allocates nothing per request. A subscriber that wants
 * the kind gets an {@link Event}, made then.
 *
 * <p>A subscriber that throws does not stop the publisher (often a device thread) or the other
 * subscribers, and keeps getting events. Its failures are counted ({@link Subscription#failures})
 * and its first one is reported once, as a {@link EventKind#HOST_WARNING} event kept with the
 * others and given to every other subscriber that wants warnings (never to the failing one).
 */
public final class EventBus {
    private final EventRing recent;
    private volatile Subscriber[] subscribers = new Subscriber[0];
    /** Bit {@code kind.ordinal()} is set while some subscriber wants that kind. */
    private volatile int wanted;

    private record Subscriber(GuardedListener<Event> listener, int kinds) {
        boolean wants(EventKind kind) {
            return (kinds & bit(kind)) != 0;
        }
    }

    public EventBus(int capacity) {
        this.recent = new EventRing(capacity);
    }

    public void publish(Event e) {
        recent.keep(e);
        if ((wanted & bit(e.kind())) != 0) deliver(e, null);
    }

    /**
     * Publishes the event with these fields (those of {@link Event}); makes no {@link Event} unless
     * a subscriber wants its kind.
     */
    public void publish(long nanos, String guest, String device, int queue, EventKind kind, long index, int head,
                        long length, long latencyNanos, String detail) {
        if ((wanted & bit(kind)) != 0) {
            publish(new Event(nanos, guest, device, queue, kind, index, head, length, latencyNanos, detail));
        } else {
            recent.keep(nanos, guest, device, queue, kind, index, head, length, latencyNanos, detail);
        }
    }

    /** Subscribes to every kind of event; the handle counts the subscriber's failures, and closing it unsubscribes. */
    public Subscription subscribe(Consumer<Event> subscriber) {
        return subscribe(EnumSet.allOf(EventKind.class), subscriber);
    }

    /**
     * Subscribes to the events of {@code kinds} only: the others, ring events above all, are then
     * not made for this subscriber's sake.
     */
    public Subscription subscribe(Set<EventKind> kinds, Consumer<Event> subscriber) {
        int bits = 0;
        for (EventKind k : kinds) bits |= bit(k);
        Subscriber s = new Subscriber(new GuardedListener<>(subscriber), bits);
        synchronized (this) {
            Subscriber[] now = Arrays.copyOf(subscribers, subscribers.length + 1);
            now[now.length - 1] = s;
            use(now);
        }
        return new Subscription(s.listener(), () -> unsubscribe(s));
    }

    /** The last {@code capacity} events, oldest first. */
    public List<Event> recent() {
        return recent.events();
    }

    private synchronized void unsubscribe(Subscriber s) {
        use(Arrays.stream(subscribers).filter(x -> x != s).toArray(Subscriber[]::new));
    }

    private void use(Subscriber[] now) {
        int bits = 0;
        for (Subscriber s : now) bits |= s.kinds();
        subscribers = now;
        wanted = bits;
    }

    private static int bit(EventKind kind) {
        return 1 << kind.ordinal();
    }

    /** Gives {@code e} to every subscriber that wants it but {@code skip}, reporting each one's first failure. */
    private void deliver(Event e, GuardedListener<Event> skip) {
        for (Subscriber s : subscribers) {
            if (s.listener() == skip || !s.wants(e.kind())) continue;
            Throwable first = s.listener().deliver(e);
            if (first != null) reportFirstFailure(s.listener(), e, first);
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
        recent.keep(report);
        deliver(report, failing);
    }
}

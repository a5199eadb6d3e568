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
 */
public final class EventBus {
    private final CopyOnWriteArrayList<Consumer<Event>> subscribers = new CopyOnWriteArrayList<>();
    private final ArrayDeque<Event> recent;
    private final int capacity;

    public EventBus(int capacity) {
        this.capacity = capacity;
        this.recent = new ArrayDeque<>(capacity);
    }

    public void publish(Event e) {
        synchronized (recent) {
            if (recent.size() == capacity) recent.removeFirst();
            recent.addLast(e);
        }
        for (Consumer<Event> s : subscribers) {
            try {
                s.accept(e);
            } catch (RuntimeException ignored) {
                // A broken subscriber must not take a device thread down with it.
            }
        }
    }

    /** Subscribes; closing the returned handle unsubscribes. */
    public AutoCloseable subscribe(Consumer<Event> subscriber) {
        subscribers.add(subscriber);
        return () -> subscribers.remove(subscriber);
    }

    public List<Event> recent() {
        synchronized (recent) {
            return new ArrayList<>(recent);
        }
    }
}

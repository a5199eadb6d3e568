package guestlab.events;

/** One subscriber to an {@link EventBus}: how often it has failed; closing it unsubscribes. */
public final class Subscription implements AutoCloseable {
    private final GuardedListener<Event> subscriber;
    private final Runnable unsubscribe;

    Subscription(GuardedListener<Event> subscriber, Runnable unsubscribe) {
        this.subscriber = subscriber;
        this.unsubscribe = unsubscribe;
    }

    /** How many events the subscriber has thrown on (the bus reported only the first). */
    public long failures() {
        return subscriber.failures();
    }

    @Override
    public void close() {
        unsubscribe.run();
    }
}

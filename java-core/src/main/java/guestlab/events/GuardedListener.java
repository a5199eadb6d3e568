package guestlab.events;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A listener as its publisher holds it. A listener that throws must neither take the publishing
 * thread down (a device thread, a socket reader) nor fail in silence: {@link #deliver} catches
 * what it throws, counts it, and hands back only the first failure, so the publisher reports
 * each listener once however often it fails, and keeps delivering to it.
 */
public final class GuardedListener<T> {
    private final Consumer<? super T> listener;
    private final AtomicLong failures = new AtomicLong();

    public GuardedListener(Consumer<? super T> listener) {
        this.listener = listener;
    }

    /** Gives {@code item} to the listener; returns what it threw if this was its first failure, otherwise null. */
    public Throwable deliver(T item) {
        try {
            listener.accept(item);
            return null;
        } catch (VirtualMachineError e) {
            throw e; // out of memory and the like are the JVM's trouble, not this listener's
        } catch (Throwable t) { // a Clojure fn may throw checked exceptions through a Consumer
            return failures.incrementAndGet() == 1 ? t : null;
        }
    }

    /** How many times the listener has thrown. */
    public long failures() {
        return failures.get();
    }
}

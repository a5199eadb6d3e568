package guestlab.testing;

import org.opentest4j.AssertionFailedError;

import java.time.Duration;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The one "poll until a condition holds or a deadline passes" of the test tree. Use it for what
 * a test must see happen (a counter reaching a value, an event arriving, a thread ending); when
 * it does not, the failure names what was awaited and the last value seen. Never use it to wait
 * for something not to happen: wait for a later event that is ordered after it instead.
 */
public final class Await {
    private Await() {}

    /** Long enough for a loaded two-core machine; a passing test never waits it out. */
    public static final Duration DEFAULT = Duration.ofSeconds(10);

    /**
     * Polls {@code value} until {@code ok} accepts it, at most {@link #DEFAULT}; returns the value
     * accepted, or fails with "timed out after 10 s waiting for {what}; last seen: {value}".
     */
    public static <T> T until(String what, Supplier<T> value, Predicate<? super T> ok) {
        return until(what, DEFAULT, value, ok);
    }

    /** {@link #until(String, Supplier, Predicate)} with a timeout of the caller's. */
    public static <T> T until(String what, Duration timeout, Supplier<T> value, Predicate<? super T> ok) {
        Objects.requireNonNull(what, "what");
        long start = System.nanoTime();
        T seen = value.get();
        if (ok.test(seen)) return seen;
        long pause = 1;
        while (System.nanoTime() - start < timeout.toNanos()) {
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionFailedError("interrupted while waiting for " + what + "; last seen: " + seen, e);
            }
            pause = Math.min(pause * 2, 20);
            seen = value.get();
            if (ok.test(seen)) return seen;
        }
        throw new AssertionFailedError("timed out after " + seconds(timeout) + " waiting for " + what
                + "; last seen: " + seen);
    }

    /** Waits for {@code condition} to become true, at most {@link #DEFAULT}. */
    public static void until(String what, BooleanSupplier condition) {
        until(what, DEFAULT, condition::getAsBoolean, Boolean::booleanValue);
    }

    /** Waits until {@code value} gives something other than null, and returns it. */
    public static <T> T present(String what, Supplier<T> value) {
        return until(what, DEFAULT, value, Objects::nonNull);
    }

    /**
     * The same polling, but returning the last value seen instead of failing when the deadline
     * passes: for callers that report a mismatch in their own words (a fuzz target's census).
     */
    public static <T> T settle(Supplier<T> value, Predicate<? super T> ok, Duration timeout) {
        try {
            return until("settle", timeout, value, ok);
        } catch (AssertionFailedError timedOut) {
            return value.get();
        }
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }
}

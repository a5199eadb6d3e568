package guestlab.engine.qemu;

import java.time.Duration;
import java.util.List;

/**
 * What the QMP and serial fuzz targets check of each call they make on a hostile QEMU: that it
 * came back within its timeout (plus a second's slack for a loaded machine), and a failure that
 * quotes the calls made so far.
 */
final class FuzzCalls {
    static final long SLACK_NANOS = 1_000_000_000L;

    private FuzzCalls() {}

    /** Fails unless the call begun at {@code t0} took at most {@code timeout} and the slack. */
    static void within(long t0, Duration timeout, String what, List<String> log) {
        long took = System.nanoTime() - t0;
        if (took > timeout.toNanos() + SLACK_NANOS) {
            throw failure(what + " took " + took / 1_000_000 + " ms with a timeout of " + timeout.toMillis() + " ms", null, log);
        }
    }

    static AssertionError failure(String what, Throwable cause, List<String> log) {
        return new AssertionError(what + "\n  calls: " + String.join("; ", log), cause);
    }
}

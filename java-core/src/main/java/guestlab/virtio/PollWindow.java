package guestlab.virtio;

/**
 * How long a queue's device thread spins on the avail ring after a batch before it sleeps on the
 * kick eventfd, adapted to how soon work came back, as QEMU adapts an AioContext's poll time
 * (util/aio-posix.c: grow from a small start by doubling while waits end within the most, drop
 * to nothing after a longer one). Waking a sleeping thread is what a busy driver waits for on
 * these machines: at queue depth 32, 4 KiB reads spent about 40 % of the time with both CPUs
 * idle between the interrupt and the next batch. A driver that pauses pays nothing but the one
 * spin after which the window closes. One device thread only.
 */
public final class PollWindow {
    /** The first window once waits are short; QEMU starts at 4 µs too. */
    static final long START_NANOS = 4_000;

    private final long maxNanos;
    private long windowNanos;
    private long sleptAt;

    /** A window of at most {@code maxNanos}; 0 never polls. */
    public PollWindow(long maxNanos) {
        if (maxNanos < 0) throw new IllegalArgumentException("a poll window of " + maxNanos + " ns");
        this.maxNanos = maxNanos;
    }

    /** How long to spin now, in nanoseconds. */
    public long nanos() {
        return windowNanos;
    }

    /** The thread goes to sleep at {@code now} (System.nanoTime): no work came in the window. */
    public void sleeping(long now) {
        sleptAt = now;
    }

    /**
     * The thread woke at {@code now} for work: a wait no longer than the most would have been
     * caught by a window that long, so the window grows toward it; a longer wait closes it.
     */
    public void woke(long now) {
        if (sleptAt == 0) return;
        long waited = now - sleptAt;
        sleptAt = 0;
        if (waited > maxNanos) windowNanos = 0;
        else windowNanos = Math.min(maxNanos, Math.max(START_NANOS, windowNanos * 2));
    }
}

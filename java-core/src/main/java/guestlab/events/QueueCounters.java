package guestlab.events;

import java.util.concurrent.atomic.AtomicLong;

/** Running totals for one virtqueue; written by its device thread, read by anyone. */
public final class QueueCounters {
    public final AtomicLong kicks = new AtomicLong();
    public final AtomicLong requests = new AtomicLong();
    public final AtomicLong completions = new AtomicLong();
    public final AtomicLong interrupts = new AtomicLong();
    public final AtomicLong bytesRead = new AtomicLong();
    public final AtomicLong bytesWritten = new AtomicLong();
    public final AtomicLong errors = new AtomicLong();

    public Snapshot snapshot() {
        return new Snapshot(kicks.get(), requests.get(), completions.get(), interrupts.get(),
                bytesRead.get(), bytesWritten.get(), errors.get());
    }

    /** bytesRead: taken by the device from readable buffers; bytesWritten: put into writable ones. */
    public record Snapshot(long kicks, long requests, long completions, long interrupts,
                           long bytesRead, long bytesWritten, long errors) {}
}

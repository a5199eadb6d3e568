package guestlab.devices;

import java.util.concurrent.DelayQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * Frames held back by a switch's faults, delivered by one daemon thread when their time comes, so
 * no sender waits. Frames for a port leave in the order they were scheduled unless one was
 * scheduled out of order on purpose (reorder).
 */
final class DelayLine {
    private final DelayQueue<Held> queue = new DelayQueue<>();
    private long sequence;

    private record Held(long deadlineNanos, long sequence, EthernetSwitch.Port to, byte[] frame) implements Delayed {
        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(deadlineNanos - System.nanoTime(), TimeUnit.NANOSECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            Held h = (Held) o;
            int c = Long.compare(deadlineNanos - h.deadlineNanos, 0);
            return c != 0 ? c : Long.compare(sequence, h.sequence);
        }
    }

    DelayLine(String switchName, BiConsumer<EthernetSwitch.Port, byte[]> deliver) {
        Thread.ofPlatform().daemon().name("guestlab-switch-" + switchName + "-delay").start(() -> {
            while (true) {
                Held h;
                try {
                    h = queue.take();
                } catch (InterruptedException e) {
                    return;
                }
                deliver.accept(h.to(), h.frame());
            }
        });
    }

    /**
     * Delivers {@code frame} to {@code to} at {@code deadlineNanos}; an in-order frame waits for
     * the frames scheduled for that port before it.
     */
    synchronized void schedule(EthernetSwitch.Port to, byte[] frame, long deadlineNanos, boolean inOrder) {
        long at = deadlineNanos;
        if (inOrder) {
            if (at - to.lastDeadlineNanos < 0) at = to.lastDeadlineNanos;
            to.lastDeadlineNanos = at;
        }
        queue.add(new Held(at, sequence++, to, frame));
    }

    /** True while frames scheduled in order for {@code to} are still waiting at {@code nowNanos}. */
    synchronized boolean holds(EthernetSwitch.Port to, long nowNanos) {
        return to.lastDeadlineNanos - nowNanos > 0;
    }
}

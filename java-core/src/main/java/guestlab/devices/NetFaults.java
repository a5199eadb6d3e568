package guestlab.devices;

import java.util.List;
import java.util.SplittableRandom;

/**
 * The faults set on one switch at one moment: impairments in the order they were set, and a
 * partition or none. Immutable but for each impairment's generator and rate-limit clock, which
 * carry over when faults are added or cleared. Decides each frame's fate on its way to a port.
 */
final class NetFaults {
    static final NetFaults NONE = new NetFaults(List.of(), null);
    private static final long MAX_QUEUE_NANOS = 1_000_000_000L;

    /** Tells the guests concerned what a fault did to a frame between two ports. */
    interface Reporter {
        void report(EthernetSwitch.Port from, EthernetSwitch.Port to, String what);
    }

    /** What becomes of one frame: delivered {@code copies} times, {@code delayNanos} from now. */
    record Fate(byte[] frame, int copies, long delayNanos, boolean reordered) {}

    /** One impairment and its state: a seeded generator and the time its rate limit is free again. */
    static final class Rule {
        final Impairment spec;
        private final SplittableRandom random;
        private long freeAtNanos;

        Rule(Impairment spec) {
            this.spec = spec;
            this.random = new SplittableRandom(spec.seed());
        }

        private boolean chance(double p) {
            return p > 0 && random.nextDouble() < p;
        }
    }

    final List<Rule> rules;
    final Partition partition;

    NetFaults(List<Rule> rules, Partition partition) {
        this.rules = List.copyOf(rules);
        this.partition = partition;
    }

    boolean isEmpty() {
        return rules.isEmpty() && partition == null;
    }

    /** The fate of {@code frame} from {@code from} to {@code to}; null when it is dropped. */
    Fate fate(EthernetSwitch.Port from, EthernetSwitch.Port to, byte[] frame, long nowNanos, String switchName, Reporter r) {
        if (partition != null && partition.cuts(from, to)) {
            r.report(from, to, "partition " + partition + " on " + switchName + ": cut a " + frame.length + "-byte frame " + from + " -> " + to);
            return null;
        }
        byte[] out = frame;
        int copies = 1;
        long delay = 0;
        boolean reordered = false;
        for (Rule rule : rules) {
            if (!rule.spec.link().matches(from, to)) continue;
            Impairment s = rule.spec;
            String on = " on " + switchName + " (" + s.link() + ", seed " + s.seed() + "): ";
            synchronized (rule) {
                if (rule.chance(s.loss())) {
                    r.report(from, to, "loss" + on + "dropped a " + frame.length + "-byte frame " + from + " -> " + to);
                    return null;
                }
                if (rule.chance(s.corrupt())) {
                    if (out == frame) out = frame.clone();
                    int at = frame.length > 14 ? 14 + rule.random.nextInt(frame.length - 14) : rule.random.nextInt(frame.length);
                    out[at] ^= (byte) 0xff;
                    r.report(from, to, "corrupt" + on + "flipped byte " + at + " of a " + frame.length + "-byte frame " + from + " -> " + to);
                }
                if (rule.chance(s.duplicate())) {
                    copies *= 2;
                    r.report(from, to, "duplicate" + on + "sent a " + frame.length + "-byte frame " + from + " -> " + to + " twice");
                }
                if (s.delayMs() > 0 || s.jitterMs() > 0) {
                    long jitter = s.jitterMs() > 0 ? rule.random.nextLong(-s.jitterMs() * 1_000_000L, s.jitterMs() * 1_000_000L + 1) : 0;
                    delay = Math.max(0, delay + s.delayMs() * 1_000_000L + jitter);
                }
                if (rule.chance(s.reorder())) {
                    reordered = true;
                    delay += s.reorderHoldMs() * 1_000_000L;
                    r.report(from, to, "reorder" + on + "held a " + frame.length + "-byte frame " + from + " -> " + to
                            + " back " + s.reorderHoldMs() + " ms");
                }
                if (s.rateKbit() > 0) {
                    long start = Math.max(nowNanos + delay, rule.freeAtNanos);
                    long done = start + (long) frame.length * 8 * 1_000_000L / s.rateKbit();
                    if (done - nowNanos > MAX_QUEUE_NANOS) {
                        r.report(from, to, "rate" + on + "dropped a " + frame.length + "-byte frame " + from + " -> " + to
                                + ": more than 1 s queued at " + s.rateKbit() + " kbit/s");
                        return null;
                    }
                    rule.freeAtNanos = done;
                    delay = done - nowNanos;
                }
            }
        }
        return new Fate(out, copies, delay, reordered);
    }
}

package guestlab.devices;

import java.util.ArrayList;
import java.util.List;

/**
 * What a fault does to the frames its {@link LinkSelector} matches. Probabilities are 0 to 1 and
 * are drawn from a generator seeded with {@code seed}, so the same frames meet the same fate on
 * every run. A zero field does nothing.
 *
 * @param loss      probability a frame is dropped
 * @param delayMs   milliseconds every frame is held back
 * @param jitterMs  up to this many milliseconds more or less, uniformly drawn
 * @param duplicate probability a frame is delivered twice
 * @param reorder   probability a frame is held back {@code max(delayMs, 10)} ms more, out of order
 * @param corrupt   probability one payload byte of a frame is flipped
 * @param rateKbit  a rate limit in kbit/s; frames queued more than a second behind it are dropped
 */
public record Impairment(LinkSelector link, double loss, long delayMs, long jitterMs, double duplicate,
                         double reorder, double corrupt, long rateKbit, long seed) {
    public Impairment {
        if (link == null) throw new IllegalArgumentException("an impairment needs a link selector");
        probability("loss", loss);
        probability("duplicate", duplicate);
        probability("reorder", reorder);
        probability("corrupt", corrupt);
        if (delayMs < 0 || jitterMs < 0 || rateKbit < 0) {
            throw new IllegalArgumentException("delay, jitter and rate are 0 or more, not " + delayMs + ", " + jitterMs + ", " + rateKbit);
        }
    }

    private static void probability(String what, double p) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException(what + " is a probability from 0 to 1, not " + p);
    }

    /** Milliseconds a reordered frame is held back beyond its delay. */
    long reorderHoldMs() {
        return Math.max(delayMs, 10);
    }

    @Override
    public String toString() {
        List<String> what = new ArrayList<>();
        if (loss > 0) what.add("loss " + loss);
        if (delayMs > 0 || jitterMs > 0) what.add("delay " + delayMs + " ms" + (jitterMs > 0 ? " +-" + jitterMs + " ms" : ""));
        if (duplicate > 0) what.add("duplicate " + duplicate);
        if (reorder > 0) what.add("reorder " + reorder);
        if (corrupt > 0) what.add("corrupt " + corrupt);
        if (rateKbit > 0) what.add("rate " + rateKbit + " kbit/s");
        return String.join(", ", what) + " on " + link + " (seed " + seed + ")";
    }
}

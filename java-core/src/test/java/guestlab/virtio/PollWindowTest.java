package guestlab.virtio;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The device thread's spin after a batch opens while the driver comes back soon and closes when it does not. */
class PollWindowTest {
    private static final long MAX = 100_000;

    /** The thread sleeps at {@code at} and is woken {@code waited} ns later; returns the next window. */
    private static long cycle(PollWindow w, long at, long waited) {
        w.sleeping(at);
        w.woke(at + waited);
        return w.nanos();
    }

    @Test
    void aThreadThatHasNeverSleptDoesNotSpin() {
        PollWindow w = new PollWindow(MAX);
        w.woke(1_000);
        assertEquals(0, w.nanos());
    }

    @Test
    void shortWaitsDoubleTheWindowUpToTheMost() {
        PollWindow w = new PollWindow(MAX);
        long t = 1_000_000;
        assertEquals(PollWindow.START_NANOS, cycle(w, t, 60_000), "a wait the most would have caught opens the window");
        assertEquals(2 * PollWindow.START_NANOS, cycle(w, t, 60_000));
        long last = 0;
        for (int i = 0; i < 20; i++) last = cycle(w, t, 60_000);
        assertEquals(MAX, last, "never past the most");
    }

    @Test
    void aLongWaitClosesTheWindow() {
        PollWindow w = new PollWindow(MAX);
        for (int i = 0; i < 10; i++) cycle(w, 1_000, 10_000);
        assertEquals(MAX, w.nanos());
        assertEquals(0, cycle(w, 1_000, MAX + 1), "a driver that paused longer than the most gets no spin");
        assertEquals(PollWindow.START_NANOS, cycle(w, 1_000, 10_000), "and it opens again from the start");
    }

    @Test
    void aWindowOfNothingNeverOpens() {
        PollWindow w = new PollWindow(0);
        assertEquals(0, cycle(w, 1_000, 1));
        assertThrows(IllegalArgumentException.class, () -> new PollWindow(-1));
    }
}

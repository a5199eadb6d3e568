package guestlab.engine.sim;

import java.util.BitSet;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** The simulated CPU's pending interrupts: LHREQ_IRQ sets one, a driver waiting on it takes it. */
public final class InterruptController {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition raised = lock.newCondition();
    private final BitSet pending = new BitSet();

    public void raise(int irq) {
        lock.lock();
        try {
            pending.set(irq);
            raised.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits up to {@code nanos} for {@code irq} and clears it; false on timeout. */
    public boolean await(int irq, long nanos) throws InterruptedException {
        lock.lock();
        try {
            while (!pending.get(irq)) {
                if (nanos <= 0) return false;
                nanos = raised.awaitNanos(nanos);
            }
            pending.clear(irq);
            return true;
        } finally {
            lock.unlock();
        }
    }
}

package guestlab.engine.sim;

/** A simulated driver waited for its device longer than its timeout. */
public final class SimTimeoutException extends RuntimeException {
    public SimTimeoutException(String message) {
        super(message);
    }
}

package guestlab.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * What a guest's start has built so far, released newest first if the start fails. Used as
 * <pre>
 *   try (Rollback rollback = new Rollback()) {
 *       Memory m = rollback.add(...);   // each resource as it is made
 *       ...
 *       rollback.keep();                // the guest owns them now
 *       return guest;
 *   }
 * </pre>
 * so that an exception anywhere before {@link #keep()} releases everything, and a failure to
 * release is attached to that exception (try-with-resources adds it as suppressed).
 */
public final class Rollback implements AutoCloseable {
    private final List<AutoCloseable> built = new ArrayList<>();

    /** Registers {@code resource}; returns it. */
    public <T extends AutoCloseable> T add(T resource) {
        built.addFirst(resource);
        return resource;
    }

    /** Forgets {@code resource}: something else releases it now. */
    public void forget(AutoCloseable resource) {
        built.remove(resource);
    }

    /** The start succeeded: nothing is released. */
    public void keep() {
        built.clear();
    }

    /** Releases what is still registered, newest first. */
    @Override
    public void close() {
        IllegalStateException failure = null;
        for (AutoCloseable c : built) {
            try {
                c.close();
            } catch (Exception e) {
                if (failure == null) failure = new IllegalStateException("releasing what a failed start built: " + e.getMessage(), e);
                else failure.addSuppressed(e);
            }
        }
        built.clear();
        if (failure != null) throw failure;
    }
}

package guestlab.fuzz;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Collects what kills guestlab's own threads (named {@code guestlab-...}): an exception nothing
 * caught. Jazzer only sees exceptions on the fuzzer's thread, so the targets ask here after each
 * input. The JVM's previous default handler still runs (the stack trace still gets printed).
 */
public final class UncaughtExceptions {
    private static final ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
    private static boolean installed;

    private UncaughtExceptions() {}

    public static synchronized void install() {
        if (installed) return;
        installed = true;
        Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> {
            if (thread.getName().startsWith("guestlab-")) {
                StringWriter trace = new StringWriter();
                e.printStackTrace(new PrintWriter(trace));
                seen.add("thread " + thread.getName() + " died: " + trace);
            }
            if (previous != null) previous.uncaughtException(thread, e);
            else e.printStackTrace();
        });
    }

    /** What died since the last call. */
    public static List<String> drain() {
        List<String> out = new ArrayList<>();
        String s;
        while ((s = seen.poll()) != null) out.add(s);
        return out;
    }
}

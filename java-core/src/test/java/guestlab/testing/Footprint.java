package guestlab.testing;

import guestlab.fuzz.ProcessCensus;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What one test opened and started from the moment this is taken: the file descriptors (of the
 * kinds a guest holds) and the guestlab threads that were not there then. Unlike a count of all
 * the JVM's fds or threads, it is not moved by another test's thread that ends meanwhile, and a
 * leak of this test's cannot hide behind someone else's release.
 *
 * <p>An fd is "the same" when its number, target and identity ({@code ino}, and for an eventfd its
 * {@code eventfd-id}, from /proc/self/fdinfo) all are: a number closed and reused by this test is new.
 */
public final class Footprint {
    private final Predicate<String> fdKind;
    private final Set<String> fdsBefore;
    private final Set<Thread> threadsBefore;

    private Footprint(Predicate<String> fdKind) {
        this.fdKind = fdKind;
        this.fdsBefore = new HashSet<>(fdKeys().values());
        this.threadsBefore = Collections.newSetFromMap(new IdentityHashMap<>());
        this.threadsBefore.addAll(liveGuestlabThreads());
    }

    /** From now on, counting fds of the kinds a device, back-end or console holds (sockets, eventfds, memfds, pipes). */
    public static Footprint take() {
        return new Footprint(ProcessCensus::deviceKind);
    }

    /** From now on, counting the fds whose target {@code fdKind} accepts. */
    public static Footprint take(Predicate<String> fdKind) {
        return new Footprint(fdKind);
    }

    /** The fds open now that were not open when this was taken, as "12 -> socket:[3456]". */
    public List<String> newFds() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<Integer, String> e : fdKeys().entrySet()) {
            if (!fdsBefore.contains(e.getValue())) out.add(e.getValue());
        }
        return out;
    }

    /** How many of {@link #newFds()} point at {@code target} ("anon_inode:[eventfd]", say). */
    public long newFdsOf(String target) {
        return newFds().stream().filter(k -> k.substring(k.indexOf(" -> ") + 4).startsWith(target)).count();
    }

    /** The guestlab threads alive now that were not alive when this was taken, by name. */
    public List<String> newThreads() {
        List<String> out = new ArrayList<>();
        for (Thread t : liveGuestlabThreads()) {
            if (!threadsBefore.contains(t)) out.add(t.getName());
        }
        out.sort(null);
        return out;
    }

    /** Waits until every fd this test opened is closed and every thread it started has ended. */
    public void assertReleased(String what) {
        Await.until(what + ": the guestlab threads started since the footprint was taken to end",
                this::newThreads, List::isEmpty);
        Await.until(what + ": the fds opened since the footprint was taken to be closed",
                this::newFds, List::isEmpty);
    }

    /** fd number to "number -> target" plus what fdinfo says makes it this fd and no other. */
    private Map<Integer, String> fdKeys() {
        Map<Integer, String> out = new java.util.TreeMap<>();
        for (Map.Entry<Integer, String> e : ProcessCensus.fds().entrySet()) {
            if (!fdKind.test(e.getValue())) continue;
            out.put(e.getKey(), e.getKey() + " -> " + e.getValue() + identity(e.getKey()));
        }
        return out;
    }

    private static String identity(int fd) {
        try {
            StringBuilder id = new StringBuilder();
            for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
                if (line.startsWith("ino:") || line.startsWith("eventfd-id:")) id.append(' ').append(line.replaceAll("\\s+", ""));
            }
            return id.length() == 0 ? "" : " (" + id.toString().strip() + ")";
        } catch (IOException closedMeanwhile) {
            return "";
        }
    }

    private static List<Thread> liveGuestlabThreads() {
        List<Thread> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && t.getName().startsWith("guestlab-")) out.add(t);
        }
        return out;
    }
}

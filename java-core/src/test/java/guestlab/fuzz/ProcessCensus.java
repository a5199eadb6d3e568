package guestlab.fuzz;

import guestlab.testing.Await;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * What this process holds that a leak would grow: open file descriptors (by what they point at)
 * and guestlab's own threads (named {@code guestlab-...}). The fuzz targets take a census before
 * and after each input and compare, so a leak shows up on the input that causes it; the
 * lifecycle tests do the same around their start/stop cycles.
 */
public final class ProcessCensus {
    private ProcessCensus() {}

    /** Open fds and what each points at ("socket:[123]", "anon_inode:[eventfd]", "/memfd:x (deleted)", a path). */
    public static Map<Integer, String> fds() {
        Map<Integer, String> out = new TreeMap<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : dir) {
                try {
                    out.put(Integer.parseInt(p.getFileName().toString()), Files.readSymbolicLink(p).toString());
                } catch (IOException | NumberFormatException e) {
                    // closed while we listed it (the directory's own fd, usually)
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/fd", e);
        }
        return out;
    }

    /** The kinds of fd a device, a vhost-user back-end or a console can hold: not the JVM's jars and logs. */
    public static boolean deviceKind(String target) {
        return target.startsWith("socket:") || target.equals("anon_inode:[eventfd]") || target.startsWith("/memfd:")
                || target.startsWith("pipe:") || target.contains("guestlab-fuzz");
    }

    /** How many fds of each target there are among those {@code filter} accepts. */
    public static Map<String, Integer> fdKinds(Predicate<String> filter) {
        Map<String, Integer> out = new TreeMap<>();
        for (String t : fds().values()) {
            if (!filter.test(t)) continue;
            // sockets and pipes differ by inode only: count them as one kind
            String kind = t.startsWith("socket:") ? "socket" : t.startsWith("pipe:") ? "pipe" : t;
            out.merge(kind, 1, Integer::sum);
        }
        return out;
    }

    /** Names of the live threads guestlab started (device, vhost-user, console and QMP threads). */
    public static List<String> guestlabThreads() {
        ThreadGroup root = Thread.currentThread().getThreadGroup();
        while (root.getParent() != null) root = root.getParent();
        Thread[] all = new Thread[root.activeCount() + 16];
        int n = root.enumerate(all, true); // cheaper than getAllStackTraces: no stack walks
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (all[i].getName().startsWith("guestlab-") && all[i].isAlive()) out.add(all[i].getName());
        }
        out.sort(null);
        return out;
    }

    /** How many there are of each: a thread list as a census. */
    public static Map<String, Integer> count(List<String> names) {
        Map<String, Integer> out = new TreeMap<>();
        for (String n : names) out.merge(n, 1, Integer::sum);
        return out;
    }

    /**
     * Whether {@code now} has no more of anything than {@code before}: growth is a leak, while
     * fewer means something unrelated (a stuck thread of an earlier failure, say) went away.
     */
    public static boolean noMoreThan(Map<String, Integer> now, Map<String, Integer> before) {
        for (Map.Entry<String, Integer> e : now.entrySet()) {
            if (e.getValue() > before.getOrDefault(e.getKey(), 0)) return false;
        }
        return true;
    }

    /**
     * Waits up to {@code millis} for {@code now} to satisfy {@code ok} (threads and fds are
     * released a little after the call that ends them returns); returns the last value seen.
     */
    public static <T> T settle(Supplier<T> now, Predicate<T> ok, long millis) {
        return Await.settle(now, ok, Duration.ofMillis(millis));
    }

    /**
     * What a target started from: fds of the device kinds, and guestlab threads. {@link #check}
     * says what grew; when nothing did, the baseline follows what went away, so a stuck thread
     * of an earlier failure that finally ends is not taken for a change.
     */
    public static final class Baseline {
        private final Predicate<String> fdFilter;
        private Map<String, Integer> fds;
        private Map<String, Integer> threads;

        public Baseline(Predicate<String> fdFilter) {
            this.fdFilter = fdFilter;
            this.fds = fdKinds(fdFilter);
            this.threads = count(guestlabThreads());
        }

        public Map<String, Integer> fds() {
            return fds;
        }

        /** Null when no fd kind and no thread name has more than before (waiting up to {@code millis}), else what grew. */
        public String check(long millis) {
            Map<String, Integer> t = settle(() -> count(guestlabThreads()), n -> noMoreThan(n, threads), millis);
            if (!noMoreThan(t, threads)) return "guestlab threads " + t + " now, " + threads + " before";
            Map<String, Integer> f = settle(() -> fdKinds(fdFilter), n -> noMoreThan(n, fds), millis);
            if (!noMoreThan(f, fds)) return "fds " + f + " now, " + fds + " before";
            threads = t;
            fds = f;
            return null;
        }
    }
}

package guestlab.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The guest packages a kit lock pins ({@link KitLock#guestPackages()}): pinned by
 * {@link #pin}, when the lock is written, as apt resolves them that day; taken, for a guest's
 * {@code :packages}, from the lock alone.
 *
 * <p>A guest's packages and what they depend on are found among the pinned packages by reading
 * each one's Depends and Pre-Depends from its .deb: for an alternative ("a | b") or a virtual
 * package, the first that a pinned package is or provides. apt is asked nothing but a download of
 * an exact pinned version the cache lacks, and every .deb is checked against the lock's sha256.
 * Version constraints are not checked again: apt met them all at once when it resolved the
 * pinned set.
 *
 * <p>A Debian root disk is built by mmdebstrap, which resolves and fetches for itself, so its
 * packages are checked, not pinned: the ones the lock pins must be in the image at the pinned
 * versions ({@link #checkRootDisk}).
 */
public final class LockedPackages {
    private final Map<String, KitLock.Package> pinned = new HashMap<>();
    private final List<KitLock.Package> order;
    private final String lockName;
    private final Path debs;
    private final Apt apt;
    private final Consumer<String> progress;
    private final Map<String, Map<String, String>> controls = new HashMap<>();
    private Map<String, String> providers;

    /**
     * The guest packages {@code lock} (its file {@code lockName}, as the user gave it) pins, their
     * .debs in {@code debs}; {@code apt} downloads a pinned version the cache lacks.
     */
    public LockedPackages(KitLock lock, String lockName, Path debs, Apt apt, Consumer<String> progress) {
        this.order = lock.guestPackages();
        for (KitLock.Package p : order) pinned.put(p.name(), p);
        this.lockName = lockName;
        this.debs = debs;
        this.apt = apt;
        this.progress = progress;
    }

    /**
     * {@code packages} (Debian package names) and everything they need, resolved by apt for
     * {@code architecture} as a guest's {@code :packages} are, downloaded into {@code debs}, each
     * with the sha256 of its .deb: what a lock pins.
     */
    public static List<KitLock.Package> pin(List<String> packages, String architecture, Path debs, AptFetcher apt,
                                            Consumer<String> progress) throws IOException {
        List<DebPackage> closure = apt.closure(packages, architecture);
        List<DebPackage> missing = closure.stream().filter(p -> !Files.isRegularFile(debs.resolve(p.debFileName()))).toList();
        if (!missing.isEmpty()) {
            progress.accept("downloading " + missing.size() + " package" + (missing.size() == 1 ? "" : "s")
                    + " (apt-get download) into " + debs);
            Files.createDirectories(debs);
            apt.downloadAll(missing, debs);
        }
        List<KitLock.Package> out = new ArrayList<>();
        for (DebPackage p : closure) {
            out.add(new KitLock.Package(p.name(), p.version(), p.architecture(), DebianKit.sha256(debs.resolve(p.debFileName()))));
        }
        return out;
    }

    /**
     * {@code packages} and everything they depend on, from the pinned packages alone, in the
     * lock's order, every .deb in {@code debs} with the lock's sha256.
     *
     * @throws IllegalArgumentException a package the lock does not pin, or a dependency no pinned package meets
     * @throws IOException a .deb that cannot be had, or whose sha256 is not the lock's
     */
    public List<DebPackage> closure(List<String> packages) throws IOException {
        requirePinned(packages);
        Set<String> reached = new LinkedHashSet<>();
        Deque<String> todo = new ArrayDeque<>(packages);
        if (pinned.containsKey(AptFetcher.USR_IS_MERGED)) todo.add(AptFetcher.USR_IS_MERGED);
        while (!todo.isEmpty()) {
            String name = todo.poll();
            if (!reached.add(name)) continue;
            Map<String, String> control = control(pinned.get(name));
            for (String field : List.of("Pre-Depends", "Depends")) {
                String deps = control.get(field);
                if (deps == null || deps.isBlank()) continue;
                for (String clause : deps.split(",")) todo.add(satisfier(pinned.get(name), clause.strip()));
            }
        }
        return order.stream().filter(p -> reached.contains(p.name())).map(KitLock.Package::deb).toList();
    }

    /**
     * Refuses {@code packages} (a guest's {@code :packages}, or its root disk's) unless the lock pins
     * every one, saying how to write a lock that does.
     */
    public void requirePinned(List<String> packages) {
        List<String> unpinned = packages.stream().filter(p -> !pinned.containsKey(p)).toList();
        if (!unpinned.isEmpty()) {
            throw new IllegalArgumentException("kit lock " + lockName + " does not pin " + String.join(", ", unpinned)
                    + (order.isEmpty() ? " (it pins no guest packages)" : "") + ": re-run ./guestlab kit lock " + lockName
                    + " --packages " + String.join(",", packages) + " (with every package your guests ask for)");
        }
    }

    /**
     * Refuses a Debian root disk holding a package the lock pins at another version or
     * architecture. {@code installed}: the disk's packages.txt lines ("name version arch"), read from
     * {@code packagesTxt}. Its packages the lock does not pin (most of minbase) are not checked.
     */
    public void checkRootDisk(List<String> installed, Path packagesTxt) {
        List<String> differ = new ArrayList<>();
        for (String line : installed) {
            String[] f = line.split(" ");
            KitLock.Package p = pinned.get(f[0]);
            if (p != null && !(f.length == 3 && f[1].equals(p.version()) && f[2].equals(p.architecture()))) {
                differ.add(line + " where the lock pins " + p.version() + " " + p.architecture());
            }
        }
        if (!differ.isEmpty()) {
            throw new IllegalArgumentException("kit lock " + lockName + ": the root disk (" + packagesTxt + ") has "
                    + String.join("; ", differ) + " (it was built from other versions than the lock pins: give the guest a "
                    + "lock written with ./guestlab kit lock --packages ... on the day the disk was built, or boot it without :kit)");
        }
    }

    /** Fetches (if the cache lacks it) and checks every pinned .deb, as {@code ./guestlab kit check} does. */
    public void verifyAll() throws IOException {
        for (KitLock.Package p : order) verified(p);
    }

    /** The pinned package that meets {@code clause} ("libc6 (>= 2.34)", "a | b", "awk"). */
    private String satisfier(KitLock.Package of, String clause) throws IOException {
        List<String> names = new ArrayList<>();
        for (String alt : clause.split("\\|")) names.add(alt.strip().replaceFirst("[ (].*", "").replaceFirst(":.*", ""));
        for (String n : names) if (pinned.containsKey(n)) return n;
        for (String n : names) if (providers().containsKey(n)) return providers().get(n);
        throw new IllegalArgumentException("kit lock " + lockName + ": " + of + " depends on " + clause
                + ", which no package the lock pins is or provides: re-run ./guestlab kit lock " + lockName + " --packages ...");
    }

    /** Virtual package name to the first pinned package (in the lock's order) that provides it. */
    private Map<String, String> providers() throws IOException {
        if (providers == null) {
            providers = new HashMap<>();
            for (KitLock.Package p : order) {
                String provides = control(p).get("Provides");
                if (provides == null) continue;
                for (String v : provides.split(",")) providers.putIfAbsent(v.strip().replaceFirst("[ (].*", ""), p.name());
            }
        }
        return providers;
    }

    private Map<String, String> control(KitLock.Package p) throws IOException {
        Map<String, String> c = controls.get(p.name());
        if (c == null) {
            c = DebArchive.control(verified(p));
            controls.put(p.name(), c);
        }
        return c;
    }

    /** The .deb of {@code p} in the cache (downloaded by its exact version if missing), with the lock's sha256. */
    private Path verified(KitLock.Package p) throws IOException {
        try {
            return PinnedDeb.fetch(p, debs, apt, progress);
        } catch (IOException e) {
            throw new IOException("kit lock " + lockName + ": " + e.getMessage(), e);
        }
    }
}

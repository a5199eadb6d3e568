package guestlab.launcher;

import guestlab.image.Apt;
import guestlab.image.AptFetcher;
import guestlab.image.DebianKit;
import guestlab.image.KitLock;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ./guestlab kit [lock [FILE] | check [FILE]]}: the guest kit in use, a lock of it, or
 * the kit a lock names, fetched and verified without booting it.
 */
public final class KitMain {
    static final String USAGE = "usage: ./guestlab kit [lock [FILE] [--packages P,Q,...] | check [FILE]]   (FILE: "
            + KitLock.DEFAULT_FILE + ")";

    private KitMain() {}

    public static void main(String[] args) {
        System.exit(run(args, DebianKit.defaultCache(), new AptFetcher(), System.out, System.err));
    }

    /**
     * Runs the verb; returns the exit status. Relative files are resolved against the JVM's
     * working directory. Progress and errors go to {@code err}, the kit to {@code out}.
     */
    static int run(String[] args, Path cache, Apt apt, PrintStream out, PrintStream err) {
        List<String> rest = new ArrayList<>(List.of(args));
        List<String> packages = List.of();
        int flag = rest.indexOf("--packages");
        if (flag >= 0 && flag + 1 < rest.size()) {
            packages = List.of(rest.get(flag + 1).split(","));
            rest.subList(flag, flag + 2).clear();
        }
        String verb = rest.isEmpty() ? "show" : rest.get(0);
        if (rest.size() > 2 || (rest.size() == 2 && verb.equals("show")) || !List.of("show", "lock", "check").contains(verb)
                || rest.contains("--packages") || (!packages.isEmpty() && !verb.equals("lock"))
                || packages.stream().anyMatch(String::isEmpty)) {
            err.println("guestlab: " + USAGE);
            return 2;
        }
        String file = rest.size() == 2 ? rest.get(1) : KitLock.DEFAULT_FILE;
        try {
            switch (verb) {
                case "show" -> {
                    DebianKit kit = new DebianKit(cache, apt, line -> err.println("guestlab: " + line));
                    KitLock manifest = kit.manifest();
                    out.println("the guest kit in use: no lock, so what apt offers today (./guestlab kit lock pins it)");
                    table(out, manifest, kit.directory());
                }
                case "lock" -> {
                    DebianKit kit = new DebianKit(cache, apt, line -> err.println("guestlab: " + line));
                    KitLock lock = kit.rebuiltManifest(packages);
                    lock.write(Path.of(file));
                    table(out, lock, kit.directory());
                    out.println("wrote " + file + "; a guest spec boots exactly this kit with :kit \"" + file + "\"");
                }
                default -> {
                    KitLock lock = KitLock.read(Path.of(file));
                    DebianKit kit = DebianKit.locked(cache, lock, file, apt, line -> err.println("guestlab: " + line));
                    kit.get();
                    kit.verifyGuestPackages();
                    out.println("the guest kit " + file + " names: every sha256 matches, and it is in the cache");
                    table(out, lock, kit.directory());
                }
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("guestlab: " + e.getMessage());
            return 1;
        }
    }

    /**
     * The kit as a short table: its packages, then what guestlab built from them, then the guest
     * packages it pins, then where.
     */
    static void table(PrintStream out, KitLock kit, Path dir) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"package", "version", "arch", "sha256"});
        for (KitLock.Package p : kit.packages()) rows.add(new String[] {p.name(), p.version(), p.architecture(), p.sha256()});
        rows.add(new String[] {"built from them:", "", "", ""});
        rows.add(new String[] {"vmlinuz", kit.kernelVersion(), "", kit.kernelSha256()});
        rows.add(new String[] {"initramfs.cpio", "", "", kit.initramfsSha256()});
        if (!kit.guestPackages().isEmpty()) rows.add(new String[] {"for :packages:", "", "", ""});
        for (KitLock.Package p : kit.guestPackages()) rows.add(new String[] {p.name(), p.version(), p.architecture(), p.sha256()});
        int[] w = new int[4];
        for (String[] r : rows) for (int i = 0; i < 3; i++) w[i] = Math.max(w[i], r[i].length());
        for (String[] r : rows) {
            out.println(("  %-" + w[0] + "s  %-" + w[1] + "s  %-" + w[2] + "s  %s").formatted((Object[]) r).stripTrailing());
        }
        out.println("  cached in " + dir);
    }
}

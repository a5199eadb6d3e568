package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * The system's apt: apt-cache depends, apt-get download, and the dependency closure of a set of
 * packages as apt resolves it (no root needed for any of them).
 */
public final class AptFetcher implements Apt {
    private static final Pattern INST = Pattern.compile("^Inst (\\S+) \\((\\S+) .*\\[(\\S+)]\\)", Pattern.MULTILINE);
    private static final Pattern UNKNOWN = Pattern.compile("^E: Unable to locate package (\\S+)", Pattern.MULTILINE);

    @Override
    public void download(String what, Path dir) throws IOException {
        run(List.of("apt-get", "download", "-q", what), dir, 600);
    }

    /**
     * Downloads every one of {@code what} (name:arch=version) into {@code dir} with one apt-get
     * download; if any is missing afterwards, the error names those packages and quotes apt.
     */
    public void downloadAll(List<DebPackage> what, Path dir) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("apt-get", "download", "-q"));
        for (DebPackage p : what) cmd.add(p.aptSpec());
        IOException failed = null;
        try {
            run(cmd, dir, 1800);
        } catch (IOException e) {
            failed = e;
        }
        List<String> missing = what.stream().filter(p -> !Files.isRegularFile(dir.resolve(p.debFileName())))
                .map(DebPackage::toString).toList();
        if (missing.isEmpty()) return;
        throw new IOException("apt-get download failed for " + String.join(", ", missing) + ": "
                + (failed != null ? Apt.reason(failed) : "it left no .deb for them in " + dir), failed);
    }

    /**
     * The packages, with their exact versions, that {@code packages} need in {@code architecture}:
     * each one and everything it Depends or Pre-Depends on, recursively, with no Recommends or
     * Suggests.
     *
     * <p>Asked of apt's own resolver, as a simulated install on a system where nothing is installed
     * ({@code apt-get --simulate} with an empty dpkg status). That is the simplest way to get what
     * is right: apt picks among alternatives ("a | b") and virtual packages as it would on a real
     * install, and versions satisfy every constraint at once; {@code apt-cache depends --recurse}
     * instead lists every alternative and every provider of a virtual package, which is far more
     * than an install takes. Packages marked Essential are not added (apt adds nothing the request
     * does not depend on): Debian packages do not declare dependencies on them because they are
     * always there, mostly for maintainer scripts, which guestlab does not run; a shared library a
     * program needs is always a declared dependency. One package is named besides the request:
     * usr-is-merged, the empty package that says the root has the merged-/usr layout (which the
     * guest's root has), so that "usrmerge | usr-is-merged" (init-system-helpers, and with it many
     * daemons) does not pull usrmerge and its Perl into the guest.
     *
     * @throws IllegalArgumentException a name apt does not know (with near names), or a request
     *     apt cannot satisfy (with apt's words)
     */
    public List<DebPackage> closure(List<String> packages, String architecture) throws IOException {
        for (String p : packages) {
            if (!DebPackage.NAME.matcher(p).matches()) {
                throw new IllegalArgumentException("\"" + p + "\" is not a Debian package name (lower-case letters, digits, '+', '-' and '.')");
            }
        }
        List<String> cmd = new ArrayList<>(List.of("apt-get", "--simulate", "-q", "-o", "Dir::State::status=/dev/null",
                "-o", "APT::Install-Recommends=false", "-o", "APT::Install-Suggests=false",
                "-o", "APT::Architecture=" + architecture, "install"));
        cmd.addAll(packages);
        cmd.add(USR_IS_MERGED);
        String out;
        try {
            out = run(cmd, null, 120);
        } catch (IOException e) {
            String text = String.valueOf(e.getMessage());
            List<String> unknown = UNKNOWN.matcher(text).results().map(m -> m.group(1)).toList();
            if (!unknown.isEmpty()) throw new IllegalArgumentException(unknownPackages(unknown), e);
            if (text.contains("\nE: ")) {
                throw new IllegalArgumentException("apt cannot install " + String.join(" ", packages) + " for "
                        + architecture + ": " + problems(text), e);
            }
            throw e;
        }
        List<DebPackage> closure = INST.matcher(out).results()
                .map(m -> new DebPackage(m.group(1).replaceFirst(":.*", ""), m.group(2), m.group(3))).toList();
        if (closure.isEmpty()) throw new IOException(String.join(" ", cmd) + " said it would install nothing:\n" + out);
        return closure;
    }

    /** The package whose presence says the root is merged-/usr (Debian 12 and later). */
    static final String USR_IS_MERGED = "usr-is-merged";

    /** "Debian package e2fsprog is not known to apt (did you mean e2fsprogs?)", for each unknown name. */
    private static String unknownPackages(List<String> unknown) throws IOException {
        List<String> names = List.of(run(List.of("apt-cache", "pkgnames"), null, 60).split("\n"));
        List<String> parts = new ArrayList<>();
        for (String u : unknown) parts.add(u + NearNames.didYouMean(u, names));
        return (unknown.size() == 1 ? "Debian package " : "Debian packages ") + String.join(", ", parts)
                + (unknown.size() == 1 ? " is" : " are") + " not known to apt (apt-cache search NAME finds packages by name)";
    }

    /** apt's "E:" lines, and the lines that say which dependency could not be met. */
    private static String problems(String aptOutput) {
        List<String> lines = new ArrayList<>();
        for (String line : aptOutput.split("\n")) {
            String t = line.strip();
            if (t.startsWith("E: ") || t.contains("Depends:") || t.contains("has no installation candidate")) lines.add(t);
        }
        return String.join("; ", lines);
    }

    @Override
    public String dependency(String metapackage, String prefix) throws IOException {
        String out = run(List.of("apt-cache", "depends", "--no-recommends", "--no-suggests", metapackage), null, 60);
        for (String line : out.split("\n")) {
            String t = line.trim();
            if (t.startsWith("Depends: " + prefix)) return t.substring("Depends: ".length()).trim();
        }
        throw new IOException("apt-cache depends " + metapackage + " names no " + prefix + "* package:\n" + out);
    }

    private static String run(List<String> cmd, Path dir, int timeoutSeconds) throws IOException {
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            if (dir != null) {
                Files.createDirectories(dir);
                pb.directory(dir.toFile());
            }
            p = pb.start();
        } catch (IOException e) {
            throw new IOException(cmd.getFirst() + " is not available: " + e.getMessage().strip() + "\nguestlab fetches Debian's "
                    + "kernel and busybox with apt; without it, give a kernel and an initrd by path instead: "
                    + ":kernel \"/path/vmlinuz\" :initrd \"/path/initrd.img\" in the guest spec (their /init must print "
                    + GuestKit.INIT_MARKER + " when it is up).", e);
        }
        try {
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish in " + timeoutSeconds + " s");
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "):\n" + text.strip()
                        + "\n(if apt's package lists are missing, run: sudo apt-get update)");
            }
            return text;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        }
    }
}

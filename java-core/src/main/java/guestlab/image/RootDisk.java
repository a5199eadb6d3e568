package guestlab.image;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.io.Writer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Debian root filesystem image built with Debian's own tools: mmdebstrap (variant minbase:
 * the Essential packages, apt and its userland) with the packages asked for, then
 * {@code mkfs.ext4 -d}, with guestlab's init ({@link #GUEST_INIT}) in it as /sbin/guestlab-init.
 *
 * <p>Built once for a request and kept in the cache's {@code rootfs} directory, named by what went
 * in: release, architecture, packages, size, and the versions of mmdebstrap and mke2fs. Beside
 * the image, {@code packages.txt} lists every package in it with its exact version (from the
 * image's dpkg status) and {@code build.log} has mmdebstrap's output. A file lock makes two
 * processes asking for the same image build it once. The cached image is never booted as it is:
 * a guest gets a copy ({@link ImageCopy}).
 */
public final class RootDisk {
    /** Changes whenever this class builds a different image from the same request. */
    private static final int FORMAT = 1;
    private static final long MIB = 1 << 20;
    /** The image's file name in its cache directory. */
    static final String IMAGE = "root.ext4";
    /** The least a :size may be: below this, even minbase does not fit. */
    public static final long MIN_SIZE = 256 * MIB;
    /** Left out of the image, as Debian's slim container images leave them out: no program reads them. */
    private static final List<String> LEFT_OUT = List.of("/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
            "/usr/share/doc/*");
    private static final Pattern UNKNOWN = Pattern.compile("^E: (?:Unable to locate package (\\S+)|Package '(\\S+)' has no installation candidate)",
            Pattern.MULTILINE);

    /**
     * guestlab's init in the root disk, started by the initramfs's switch_root as process 1: it
     * mounts the kernel's filesystems, names the host after the guest, prints the init marker and
     * gives a root shell (Debian's sh, dash) on the serial console, which guestlab scripts as it
     * scripts busybox's. No systemd, no services: what runs is what the user starts.
     */
    static final String GUEST_INIT = """
            #!/bin/sh
            # guestlab's init in a Debian root disk (written by guestlab when it built the image):
            # mount the kernel's filesystems, name the host, say the guest is up, give a shell.
            export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=linux
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            mount -t devtmpfs devtmpfs /dev
            mkdir -p /dev/pts /dev/shm
            mount -t devpts devpts /dev/pts
            mount -t tmpfs -o mode=1777 tmpfs /dev/shm
            mount -t tmpfs -o mode=0755 tmpfs /run
            mkdir -p /run/lock
            name=$(sed -n 's/.*guestlab\\.name=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
            [ -n "$name" ] && echo "$name" > /proc/sys/kernel/hostname
            cd /root
            echo %s
            tty=/dev/ttyS0
            [ -c $tty ] || tty=/dev/console
            exec setsid -c /bin/sh -i <$tty >$tty 2>&1
            """.formatted(GuestKit.INIT_MARKER);

    /** What to build: a Debian release, an architecture, packages beyond minbase, and the image's size (0: fit the content). */
    public record Request(String release, String architecture, List<String> packages, long sizeBytes) {
        public Request {
            packages = List.copyOf(new TreeSet<>(packages));
        }
    }

    /** A built image: the file in the cache, and every package in it as "name version architecture". */
    public record Image(Path file, List<String> packages, boolean builtNow) {}

    private final Path cache;
    private final String mmdebstrap;
    private final String mkfs;
    private final Consumer<String> progress;

    /**
     * Images under {@code cache}/rootfs, built with {@code mmdebstrap} and {@code mkfs} (commands
     * or paths; {@link #system} finds the system's).
     */
    public RootDisk(Path cache, String mmdebstrap, String mkfs, Consumer<String> progress) {
        this.cache = cache.resolve("rootfs");
        this.mmdebstrap = mmdebstrap;
        this.mkfs = mkfs;
        this.progress = progress;
    }

    /** With the system's mmdebstrap and mkfs.ext4 (often in /usr/sbin, which a user's PATH may lack). */
    public static RootDisk system(Path cache, Consumer<String> progress) {
        String mkfs = Stream.of("/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4").filter(p -> Files.isExecutable(Path.of(p)))
                .findFirst().orElse("mkfs.ext4");
        return new RootDisk(cache, "mmdebstrap", mkfs, progress);
    }

    /** The Debian release this host runs (VERSION_CODENAME in /etc/os-release), or null. */
    public static String hostRelease() {
        try {
            for (String line : Files.readAllLines(Path.of("/etc/os-release"))) {
                if (line.startsWith("VERSION_CODENAME=")) {
                    String v = line.substring("VERSION_CODENAME=".length()).replace("\"", "").strip();
                    return v.isEmpty() ? null : v;
                }
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }

    /**
     * The image for {@code request}, from the cache, else built now (half a minute or more; progress
     * lines say what happens). {@code check} is called before a build, to refuse a request that
     * cannot be built (unknown packages) before mmdebstrap starts.
     *
     * @throws IllegalArgumentException a package the release does not have, or a size too small
     * @throws IOException mmdebstrap or mkfs.ext4 missing or failing, with how to fix it
     */
    public synchronized Image image(Request request, Check check) throws IOException {
        String contents = contents(request);
        Path dir = cache.resolve(request.release() + "-" + request.architecture() + "-" + key(contents));
        Path image = dir.resolve(IMAGE);
        if (Files.isRegularFile(image)) return new Image(image, packages(dir), false);
        Files.createDirectories(cache);
        try (FileChannel lockFile = FileChannel.open(cache.resolve(dir.getFileName() + ".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE)) {
            FileLock held = lockFile.tryLock();
            if (held == null) {
                progress.accept("another guestlab is building the root disk " + dir.getFileName() + "; waiting for it");
                held = lockFile.lock();
            }
            try (FileLock ignored = held) {
                if (Files.isRegularFile(image)) return new Image(image, packages(dir), false);
                check.check(request);
                build(request, contents, dir);
                return new Image(image, packages(dir), true);
            }
        }
    }

    /** Refuses a request before anything is built (e.g. packages apt does not know). */
    @FunctionalInterface
    public interface Check {
        void check(Request request) throws IOException;
    }

    private void build(Request r, String contents, Path dir) throws IOException {
        String what = "Debian " + r.release() + " (minbase" + (r.packages().isEmpty() ? "" : " + " + String.join(" ", r.packages())) + ")";
        progress.accept("building a root disk: " + what + " with mmdebstrap, then mkfs.ext4; half a minute or more, once for these packages");
        long t0 = System.nanoTime();
        Path work = Files.createTempDirectory(cache, "build-");
        try {
            Path root = work.resolve("root");
            Path log = cache.resolve(dir.getFileName() + ".build.log"); // kept, for a build that fails
            mmdebstrap(r, root, log);
            Files.writeString(root.resolve("usr/sbin/guestlab-init"), GUEST_INIT);
            Files.setPosixFilePermissions(root.resolve("usr/sbin/guestlab-init"), PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.writeString(root.resolve("etc/hostname"), "guestlab\n");
            List<String> installed = installed(root);
            long used = usedBytes(root);
            long size = r.sizeBytes() > 0 ? r.sizeBytes() : fit(used);
            if (size < used + used / 10) {
                throw new IllegalArgumentException("the root disk " + what + " holds " + used / MIB + " MiB, more than :size "
                        + size / MIB + " MiB leaves room for (give at least " + ((used + used / 10) / MIB + 64) + " MiB, or no :size)");
            }
            Path img = work.resolve(IMAGE);
            try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
                f.setLength(size);
            }
            progress.accept("mkfs.ext4 -d: " + used / MIB + " MiB of files into a " + size / MIB + " MiB image");
            checked(List.of(mkfs, "-q", "-F", "-L", "guestlab-root", "-d", root.toString(), img.toString()), MKFS_MISSING);
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("contents.txt"), contents);
            Files.write(dir.resolve("packages.txt"), installed);
            Files.move(log, dir.resolve("build.log"), StandardCopyOption.REPLACE_EXISTING);
            Files.move(img, dir.resolve(IMAGE), StandardCopyOption.ATOMIC_MOVE); // last: its presence says the entry is whole
            progress.accept(String.format("built %s (%d MiB, %d MiB used, %d packages) in %.0f s", dir.resolve(IMAGE), size / MIB,
                    used / MIB, installed.size(), (System.nanoTime() - t0) / 1e9));
        } finally {
            deleteTree(work);
        }
    }

    /** Runs mmdebstrap into {@code root}, its output into {@code log}, its "I:" lines as progress. */
    private void mmdebstrap(Request r, Path root, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(mmdebstrap, "--variant=minbase", "--architectures=" + r.architecture()));
        if (!r.packages().isEmpty()) cmd.add("--include=" + String.join(",", r.packages()));
        for (String x : LEFT_OUT) cmd.add("--dpkgopt=path-exclude=" + x);
        cmd.addAll(List.of(r.release(), root.toString()));
        Output out = run(cmd, log, 1800, MMDEBSTRAP_MISSING);
        if (out.exit() != 0) {
            List<String> unknown = new ArrayList<>();
            for (Matcher m = UNKNOWN.matcher(out.text()); m.find(); ) {
                String name = m.group(1) != null ? m.group(1) : m.group(2);
                if (!unknown.contains(name)) unknown.add(name);
            }
            if (!unknown.isEmpty()) {
                throw new IllegalArgumentException((unknown.size() == 1 ? "Debian package " : "Debian packages ") + String.join(", ", unknown)
                        + (unknown.size() == 1 ? " is" : " are") + " not in Debian " + r.release() + " (mmdebstrap: " + firstError(out.text()) + ")");
            }
            throw new IOException("mmdebstrap failed (exit " + out.exit() + "): " + firstError(out.text()) + " (its whole output: " + log + ")");
        }
        if (!Files.isDirectory(root.resolve("usr/sbin"))) throw new IOException("mmdebstrap left no root filesystem in " + root);
    }

    private static final String MMDEBSTRAP_MISSING = "mmdebstrap is not installed; it builds the Debian root disk: "
            + "apt-get install mmdebstrap (./guestlab installs it on first use)";
    private static final String MKFS_MISSING = "mkfs.ext4 is not installed; it writes the root disk's filesystem: "
            + "apt-get install e2fsprogs";

    /** What a tool printed (stdout and stderr together) and its exit status. */
    private record Output(int exit, String text) {}

    /**
     * Runs {@code cmd}; its output goes to {@code log} (if given) and its "I: " lines to progress.
     *
     * @param missing what to say when the program is not there
     */
    private Output run(List<String> cmd, Path log, int timeoutSeconds, String missing) throws IOException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException(missing, e);
        }
        StringBuilder all = new StringBuilder();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
             Writer w = log == null ? Writer.nullWriter() : Files.newBufferedWriter(log)) {
            p.getOutputStream().close();
            for (String line; (line = in.readLine()) != null; ) {
                all.append(line).append('\n');
                w.write(line + "\n");
                if (line.startsWith("I: ")) progress.accept("mmdebstrap: " + line.substring(3));
            }
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish in " + timeoutSeconds + " s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + cmd.getFirst(), e);
        }
        return new Output(p.exitValue(), all.toString());
    }

    /** Runs a tool that must succeed; its output is returned. */
    private String checked(List<String> cmd, String missing) throws IOException {
        Output out = run(cmd, null, 600, missing);
        if (out.exit() != 0) throw new IOException(String.join(" ", cmd) + " failed (exit " + out.exit() + "): " + firstError(out.text()));
        return out.text();
    }

    /** A tool's first "E:" line, else its last lines. */
    private static String firstError(String text) {
        List<String> lines = text.lines().filter(l -> l.startsWith("E: ")).findFirst().stream().toList();
        if (lines.isEmpty()) {
            List<String> all = text.lines().toList();
            lines = all.subList(Math.max(0, all.size() - 3), all.size());
        }
        return String.join("; ", lines);
    }

    /** Every package installed in {@code root}, "name version architecture", from its dpkg status. */
    static List<String> installed(Path root) throws IOException {
        List<String> out = new ArrayList<>();
        String status = Files.readString(root.resolve("var/lib/dpkg/status"));
        for (String stanza : status.split("\n\n")) {
            String name = field(stanza, "Package"), version = field(stanza, "Version"), arch = field(stanza, "Architecture");
            String state = field(stanza, "Status");
            if (name != null && version != null && state != null && state.endsWith(" installed")) {
                out.add(name + " " + version + " " + arch);
            }
        }
        out.sort(null);
        return out;
    }

    private static String field(String stanza, String name) {
        for (String line : stanza.split("\n")) if (line.startsWith(name + ": ")) return line.substring(name.length() + 2).strip();
        return null;
    }

    private static List<String> packages(Path dir) throws IOException {
        Path f = dir.resolve("packages.txt");
        return Files.isRegularFile(f) ? Files.readAllLines(f) : List.of();
    }

    /** The bytes the tree's files take in 4 KiB blocks, with a block per directory and symlink. */
    private static long usedBytes(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.mapToLong(p -> {
                try {
                    long n = Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS) ? Files.size(p) : 0;
                    return (n + 4095) / 4096 * 4096 + 256; // the data's blocks, and its inode
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).sum();
        }
    }

    /** Content plus half again plus 256 MiB of room, in whole 64 MiB (the file is sparse: room costs nothing until used). */
    private static long fit(long used) {
        long want = used + used / 2 + 256 * MIB;
        return (want + 64 * MIB - 1) / (64 * MIB) * (64 * MIB);
    }

    /** What the image is built from, one line each: the cache key's text. */
    private String contents(Request r) throws IOException {
        return "guestlab root disk format " + FORMAT + "\nrelease " + r.release() + "\narchitecture " + r.architecture()
                + "\nvariant minbase\npackages " + String.join(" ", r.packages()) + "\nsize "
                + (r.sizeBytes() > 0 ? Long.toString(r.sizeBytes()) : "fit") + "\n" + toolVersions() + GUEST_INIT;
    }

    /** mmdebstrap's and mke2fs's versions, which say what image a request builds. */
    private String toolVersions() throws IOException {
        String mm = checked(List.of(mmdebstrap, "--version"), MMDEBSTRAP_MISSING).strip();
        String mke2fs = checked(List.of(mkfs, "-V"), MKFS_MISSING);
        return mm + "\n" + mke2fs.lines().findFirst().orElse("mke2fs") + "\n";
    }

    private static String key(String contents) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(contents.getBytes(StandardCharsets.UTF_8))).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}

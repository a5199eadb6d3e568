package guestlab.image;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The guest kit from Debian's own packages: the stock kernel of linux-image-amd64 and a
 * busybox-static userland in an initramfs whose /init loads the virtio modules and prints
 * {@link GuestKit#INIT_MARKER}. The .debs are kept in {@code cache/debs}, the kit built from them
 * in {@code cache/kits/<kernel deb>+<busybox deb>}, and both reused.
 *
 * <p>Without a lock the kit is what apt offers today (the kernel linux-image-amd64 depends on, and
 * busybox-static), taken from the cache when it is there; if apt cannot say or fetch it, the
 * newest kit in the cache is used, with a note. With a {@link KitLock} the kit is exactly the
 * packages the lock names, from the cache, else {@code apt-get download name:arch=version}; every
 * sha256 is checked before the kit is handed out, and apt is not asked anything the cache can
 * answer.
 */
public final class DebianKit {
    /** The drivers the guest needs; their dependencies (virtio_ring, failover, ...) come along. */
    static final List<String> MODULES = List.of("virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng");
    static final String KERNEL_METAPACKAGE = "linux-image-amd64";
    static final String BUSYBOX = "busybox-static";
    /** The initramfs's file name in a kit directory (older guestlabs wrote a gzipped initrd.img there). */
    static final String INITRAMFS = "initramfs.cpio";
    /** The kernel uncompressed, for QEMU to boot through its PVH entry point (see {@link PvhKernel}). */
    static final String PVH_KERNEL = "vmlinux";

    private final Path cache;
    private final Path debs;
    private final Apt apt;
    private final KitLock lock;
    private final String lockName;
    private final Consumer<String> progress;
    private Built resolved;

    /**
     * A kit as built: where its files are, what it is (its packages, the sha256 of everything),
     * and whether it was built just now (else taken from its directory).
     */
    private record Built(GuestKit kit, Path dir, KitLock manifest, boolean builtNow) {}

    /** The kit apt offers today (the system's apt), cached under {@code cache}. */
    public DebianKit(Path cache, Consumer<String> progress) {
        this(cache, new AptFetcher(), null, null, progress);
    }

    /** The kit {@code apt} offers today, cached under {@code cache}. */
    public DebianKit(Path cache, Apt apt, Consumer<String> progress) {
        this(cache, apt, null, null, progress);
    }

    private DebianKit(Path cache, Apt apt, KitLock lock, String lockName, Consumer<String> progress) {
        this.cache = cache;
        this.debs = cache.resolve("debs");
        this.apt = apt;
        this.lock = lock;
        this.lockName = lockName;
        this.progress = progress;
    }

    /**
     * Exactly the kit {@code lock} names; {@code lockName} (its file, as the user gave it) names it
     * in messages. {@code apt} is asked only for packages the cache does not hold.
     */
    public static DebianKit locked(Path cache, KitLock lock, String lockName, Apt apt, Consumer<String> progress) {
        return new DebianKit(cache, apt, lock, lockName, progress);
    }

    /** {@link #locked(Path, KitLock, String, Apt, Consumer)} with the system's apt. */
    public static DebianKit locked(Path cache, KitLock lock, String lockName, Consumer<String> progress) {
        return locked(cache, lock, lockName, new AptFetcher(), progress);
    }

    /** The default cache: $XDG_CACHE_HOME/guestlab or ~/.cache/guestlab. */
    public static Path defaultCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("guestlab");
    }

    /** The kit, built (and with a lock, verified) on first use and reused after, once per object. */
    public synchronized GuestKit get() throws IOException {
        return built().kit();
    }

    /**
     * The kit with more kernel modules and Debian packages in its initramfs (see
     * {@link ExtendedInitramfs}); the kit itself when both lists are empty. The packages are
     * resolved and fetched with the system's apt, for the architecture of the kit's kernel.
     *
     * @throws IllegalArgumentException a module or package that does not exist, with the names near it
     */
    public synchronized GuestKit with(List<String> modules, List<String> packages) throws IOException {
        Built b = built();
        if (modules.isEmpty() && packages.isEmpty()) return b.kit();
        return extended(b).build(modules, packages);
    }

    /**
     * The kit whose initramfs boots a Debian root disk ({@link RootDisk}) instead of giving a
     * shell: with {@code modules} and ext4, which mounts the disk, loaded first.
     */
    public synchronized GuestKit withRootDisk(List<String> modules) throws IOException {
        List<String> all = new ArrayList<>(modules);
        if (!all.contains("ext4")) all.add("ext4");
        return extended(built()).build(all, List.of(), true);
    }

    /** The architecture of the kit's kernel (amd64), which packages for its guests are fetched for. */
    public synchronized String architecture() throws IOException {
        return built().manifest().kernelPackage().architecture();
    }

    /**
     * The kit's initramfs extender. Without a lock, a guest's packages are what apt resolves today
     * for the kernel's architecture; with one, only what the lock pins ({@link LockedPackages}).
     */
    private ExtendedInitramfs extended(Built b) {
        KitLock.Package kernel = b.manifest().kernelPackage();
        Path busybox = debs.resolve(b.manifest().busyboxPackage().debFileName());
        AptFetcher system = new AptFetcher();
        ExtendedInitramfs.Closure closure = lock != null ? lockedPackages()::closure
                : names -> system.closure(names, kernel.architecture());
        return new ExtendedInitramfs(b.kit(), b.dir(), debs.resolve(kernel.debFileName()), busybox, closure, debs, system, progress);
    }

    /** The guest packages the lock pins, or null without a lock. */
    public LockedPackages lockedPackages() {
        return lock == null ? null : new LockedPackages(lock, lockName, debs, apt, progress);
    }

    /**
     * The guest packages the lock pins, each fetched if the cache lacks it and checked against
     * the lock's sha256; nothing without a lock or when it pins none.
     */
    public synchronized void verifyGuestPackages() throws IOException {
        if (lock != null) lockedPackages().verifyAll();
    }

    /**
     * As {@link #rebuiltManifest()}, pinning also {@code guestPackages} and everything they depend
     * on, resolved by the system's apt for the kernel's architecture and downloaded into the cache.
     */
    public synchronized KitLock rebuiltManifest(List<String> guestPackages) throws IOException {
        KitLock kit = rebuiltManifest();
        if (guestPackages.isEmpty()) return kit;
        return kit.withGuestPackages(LockedPackages.pin(guestPackages, kit.kernelPackage().architecture(), debs, new AptFetcher(),
                progress));
    }

    /**
     * What the kit is: its packages with the sha256 of each .deb, and the sha256 of the kernel and
     * initramfs built from them. Written to a file, it is the kit's lock.
     */
    public synchronized KitLock manifest() throws IOException {
        return built().manifest();
    }

    /** The directory holding the kit's vmlinuz (and vmlinux, the same kernel uncompressed) and initramfs. */
    public synchronized Path directory() throws IOException {
        return built().dir();
    }

    /** The lock this kit follows, or null. */
    public KitLock lock() {
        return lock;
    }

    /**
     * The kit apt offers today (or the cache's, as {@link #get}), built afresh from its .debs rather
     * than taken from the kit directory, so its manifest says what these packages build with this
     * guestlab. For writing a lock; a different kit in the directory is replaced.
     */
    public synchronized KitLock rebuiltManifest() throws IOException {
        if (lock != null) throw new IllegalStateException("a locked kit is verified, not rebuilt: use manifest()");
        Path[] pkgs = newestDebs();
        resolved = build(pkgs[0], pkgs[1], true, null);
        return resolved.manifest();
    }

    /**
     * One line naming the kit: packages and versions, the kernel's and initramfs's sha256 (first 12
     * hex digits), and its lock if it has one.
     */
    public synchronized String summary() throws IOException {
        KitLock m = manifest();
        return "kit: " + m.kernelPackage() + " + " + m.busyboxPackage() + " (sha256 vmlinuz "
                + m.kernelSha256().substring(0, 12) + ", initramfs " + m.initramfsSha256().substring(0, 12) + "; "
                + (lock != null ? "locked by " + lockName : "no lock") + ")";
    }

    private Built built() throws IOException {
        if (resolved == null) resolved = lock != null ? resolveLocked() : resolve();
        return resolved;
    }

    // --- without a lock ------------------------------------------------------------------------

    private Built resolve() throws IOException {
        Path[] pkgs = newestDebs();
        return build(pkgs[0], pkgs[1], false, null);
    }

    /** The kernel and busybox .debs apt offers today, else (apt failing) the newest in the cache. */
    private Path[] newestDebs() throws IOException {
        try {
            String kernelPkg = apt.dependency(KERNEL_METAPACKAGE, "linux-image-");
            return new Path[] {fetch(kernelPkg), fetch(BUSYBOX)};
        } catch (IOException e) {
            Path kernel = newestCached("linux-image-[0-9]*_*.deb");
            Path busybox = newestCached(BUSYBOX + "_*.deb");
            if (kernel == null || busybox == null) throw e;
            progress.accept("note: apt could not give today's kit (" + Apt.reason(e) + "); using the newest kit in the cache: "
                    + kernel.getFileName() + " and " + busybox.getFileName());
            return new Path[] {kernel, busybox};
        }
    }

    /** The cached .deb of {@code pkg} (the newest, if several), downloading it first if there is none. */
    private Path fetch(String pkg) throws IOException {
        Path have = newestCached(pkg + "_*.deb");
        if (have != null) return have;
        progress.accept("downloading " + pkg + " (apt-get download) into " + debs);
        Files.createDirectories(debs);
        apt.download(pkg, debs);
        have = newestCached(pkg + "_*.deb");
        if (have == null) throw new IOException("apt-get download " + pkg + " left no " + pkg + "_*.deb in " + debs);
        return have;
    }

    private Path newestCached(String glob) throws IOException {
        if (!Files.isDirectory(debs)) return null;
        Path best = null;
        FileTime bestTime = null;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(debs, glob)) {
            for (Path p : ds) {
                FileTime t = Files.getLastModifiedTime(p);
                if (best == null || t.compareTo(bestTime) > 0 || (t.equals(bestTime) && p.compareTo(best) > 0)) {
                    best = p;
                    bestTime = t;
                }
            }
        }
        return best;
    }

    // --- with a lock ---------------------------------------------------------------------------

    private Built resolveLocked() throws IOException {
        List<String> problems = new ArrayList<>();
        for (KitLock.Package p : lock.packages()) {
            try {
                PinnedDeb.fetch(p, debs, apt, progress);
            } catch (IOException e) {
                problems.add(e.getMessage());
            }
        }
        if (!problems.isEmpty()) throw new IOException("kit lock " + lockName + ": " + String.join("; ", problems));
        Path kernelDeb = debs.resolve(lock.kernelPackage().debFileName());
        Path busyboxDeb = debs.resolve(lock.busyboxPackage().debFileName());
        Built b = build(kernelDeb, busyboxDeb, false, lock.packages());
        if (!matches(b.manifest()) && !b.builtNow()) {
            progress.accept("the kit in " + b.dir() + " is not the one " + lockName + " names; building it again from its packages");
            b = build(kernelDeb, busyboxDeb, true, lock.packages());
        }
        KitLock m = b.manifest();
        if (!m.kernelSha256().equals(lock.kernelSha256()) || !m.kernelVersion().equals(lock.kernelVersion())) {
            throw new IOException("kit lock " + lockName + ": the kernel in " + kernelDeb.getFileName() + " is "
                    + m.kernelVersion() + " with sha256 " + m.kernelSha256() + ", the lock says " + lock.kernelVersion()
                    + " with sha256 " + lock.kernelSha256());
        }
        if (!m.initramfsSha256().equals(lock.initramfsSha256())) {
            throw new IOException("kit lock " + lockName + ": the initramfs this guestlab builds from these packages has sha256 "
                    + m.initramfsSha256() + ", the lock says " + lock.initramfsSha256() + " (the packages match; the lock "
                    + "was written by a guestlab that builds the initramfs differently: ./guestlab kit lock writes a new one)");
        }
        return new Built(b.kit(), b.dir(), lock, b.builtNow());
    }

    private boolean matches(KitLock m) {
        return m.kernelSha256().equals(lock.kernelSha256()) && m.initramfsSha256().equals(lock.initramfsSha256())
                && m.kernelVersion().equals(lock.kernelVersion());
    }

    // --- building ------------------------------------------------------------------------------

    /**
     * The kit of these two .debs: from its directory when that holds one and {@code fresh} is
     * false, else built from the .debs (files replaced atomically, so a guest booting from the
     * directory meanwhile reads whole files). {@code packages}: the two .debs' descriptions if
     * already known (verified), else null and they are read and hashed here.
     */
    private Built build(Path kernelDeb, Path busyboxDeb, boolean fresh, List<KitLock.Package> packages) throws IOException {
        String key = kernelDeb.getFileName().toString().replace(".deb", "") + "+"
                + busyboxDeb.getFileName().toString().replace(".deb", "");
        Path kitDir = cache.resolve("kits").resolve(key);
        Path kernel = kitDir.resolve("vmlinuz");
        Path initrd = kitDir.resolve(INITRAMFS);
        Path version = kitDir.resolve("kernel-version");
        boolean build = fresh || !(Files.isRegularFile(initrd) && Files.isRegularFile(kernel) && Files.isRegularFile(version));
        if (build) {
            progress.accept("building the guest kit from " + kernelDeb.getFileName() + " and " + busyboxDeb.getFileName());
            Files.createDirectories(kitDir);
            Path work = Files.createTempDirectory(cache, "unpack-");
            try {
                DebArchive.extract(kernelDeb, work, n -> n.startsWith("boot/vmlinuz-") || n.startsWith("lib/modules/"));
                DebArchive.extract(busyboxDeb, work, n -> n.equals("bin/busybox"));
                Path vmlinuz = single(work.resolve("boot"), "vmlinuz-");
                String kver = vmlinuz.getFileName().toString().substring("vmlinuz-".length());
                Path modDir = work.resolve("lib/modules").resolve(kver);
                buildInitramfs(work.resolve("bin/busybox"), modDir).write(initrd);
                replace(vmlinuz, kernel);
                Path v = work.resolve("kernel-version");
                Files.writeString(v, kver + "\n");
                replace(v, version);
            } finally {
                deleteTree(work);
            }
        }
        String kver = Files.readString(version).strip();
        if (packages == null) packages = List.of(describe(kernelDeb), describe(busyboxDeb));
        KitLock manifest = new KitLock(packages, kver, sha256(kernel), sha256(initrd));
        return new Built(new GuestKit(bootable(kernel, build), initrd, kver), kitDir, manifest, build);
    }

    /**
     * The kernel QEMU boots: the uncompressed PVH ELF beside {@code vmlinuz} (made from it once,
     * and again whenever the kit is rebuilt), or vmlinuz itself if its kernel has no PVH entry.
     */
    private Path bootable(Path vmlinuz, boolean rebuilt) throws IOException {
        Path vmlinux = vmlinuz.resolveSibling(PVH_KERNEL);
        Path none = vmlinuz.resolveSibling(PVH_KERNEL + ".none");
        if (rebuilt) {
            Files.deleteIfExists(vmlinux);
            Files.deleteIfExists(none);
        }
        if (Files.isRegularFile(vmlinux)) return vmlinux;
        if (Files.exists(none)) return vmlinuz;
        progress.accept("unpacking the kernel for a fast boot (an uncompressed PVH kernel; once per kit)");
        if (PvhKernel.extract(vmlinuz, vmlinux)) return vmlinux;
        Files.writeString(none, "this kernel has no PVH entry point: QEMU boots vmlinuz\n");
        return vmlinuz;
    }

    private static void replace(Path from, Path to) throws IOException {
        Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** A .deb as a lock names it: its control file's Package, Version and Architecture, and its sha256. */
    static KitLock.Package describe(Path deb) throws IOException {
        Map<String, String> c = DebArchive.control(deb);
        for (String field : List.of("Package", "Version", "Architecture")) {
            if (!c.containsKey(field)) throw new IOException(deb + ": its control file has no " + field);
        }
        return new KitLock.Package(c.get("Package"), c.get("Version"), c.get("Architecture"), sha256(deb));
    }

    /** The sha256 of a file, as 64 lower-case hex digits. */
    public static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** busybox, the virtio modules in load order, and an /init that loads them. */
    static Initramfs buildInitramfs(Path busybox, Path moduleDir) throws IOException {
        ModuleSet mods = ModuleSet.scan(moduleDir);
        for (String m : mods.unknown(MODULES)) {
            throw new IOException("kernel module " + m + " is neither in the kernel package nor built in");
        }
        Initramfs img = new Initramfs();
        for (String d : List.of("dev", "proc", "sys", "tmp", "etc", "bin", "sbin")) img.dir(d);
        img.file("bin/busybox", 0755, Files.readAllBytes(busybox));
        img.symlink("bin/sh", "busybox");
        StringBuilder order = new StringBuilder();
        for (String ko : mods.loadOrder(MODULES)) {
            String name = ko.substring(ko.lastIndexOf('/') + 1);
            img.file("lib/modules/" + name, 0644, Files.readAllBytes(moduleDir.resolve(ko)));
            order.append(name).append('\n');
        }
        img.file("etc/guestlab-modules", 0644, order.toString().getBytes(StandardCharsets.UTF_8));
        img.file("init", 0755, initScript("").getBytes(StandardCharsets.UTF_8));
        return img;
    }

    /**
     * The initramfs's /init: mount the basics, load the modules /etc/guestlab-modules lists, print
     * the init marker, give a shell; {@code setup} (shell lines) runs first, after busybox has
     * installed its applets.
     */
    static String initScript(String setup) {
        return initScript(setup, "echo " + GuestKit.INIT_MARKER + "\nexec setsid cttyhack /bin/sh\n");
    }

    /** The same /init with {@code boot} (shell lines) in place of the marker and shell at its end. */
    static String initScript(String setup, String boot) {
        return """
                #!/bin/sh
                # guestlab's init: mount the basics, load the virtio modules, say so, give a shell.
                /bin/busybox --install -s /bin
                %smount -t proc proc /proc
                mount -t sysfs sysfs /sys
                mount -t devtmpfs devtmpfs /dev
                for m in $(cat /etc/guestlab-modules); do
                  insmod /lib/modules/$m || echo "guestlab: insmod $m failed"
                done
                %s""".formatted(setup, boot);
    }

    private static Path single(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix)).findFirst()
                    .orElseThrow(() -> new IOException("no " + prefix + "* in the kernel package"));
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}

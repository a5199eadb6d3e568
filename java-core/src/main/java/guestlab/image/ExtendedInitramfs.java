package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A kit's initramfs with more in it: kernel modules asked for by name (with the modules they need,
 * loaded at boot after the virtio ones, dependencies first) and Debian packages (with the packages
 * they depend on, as apt resolves them for the kit's release and architecture), merged into a
 * merged-/usr root ({@link PackageRoot}) under the kit's busybox, whose /init and sh stay in
 * charge; at the console a package's program wins over a busybox applet of the same name
 * ({@link #PREFER_PACKAGES}).
 *
 * <p>Built once and kept in the kit's directory under {@code extended/}, named by what went in
 * (the module files in load order and the exact package versions), so a second guest with the
 * same modules and packages boots the same file without building it again; the .debs are kept
 * with the kit's in the cache's {@code debs} directory. Which packages a name brings is a
 * {@link Closure}'s answer: apt's today, or a kit lock's ({@link LockedPackages}). Names are checked before anything is
 * downloaded or built: a module the kernel does not have, or a package apt does not know, is
 * refused with the names near it.
 */
public final class ExtendedInitramfs {
    /** Changes whenever this class builds a different archive from the same inputs. */
    private static final int FORMAT = 1;
    private static final long MIB = 1 << 20;
    /** The least RAM Debian's kernel and busybox boot in, besides the initramfs (the :qemu minimum). */
    private static final long KERNEL_RAM = 128 * MIB;

    /**
     * Init lines that let a package's program win over busybox's applet of the same name at the
     * console. Debian's busybox-static is a "standalone" shell: its sh runs its own applet for a
     * command name before looking at PATH, so PATH order alone cannot do it. For every applet that
     * a package's program shadows (a file on PATH that is not busybox), an alias names the program,
     * in the file $ENV names, which every interactive sh reads; shell builtins stay builtins, as
     * in any shell. A script run by sh still gets the applet: there, name the program by its path.
     */
    static final String PREFER_PACKAGES = """
            for a in $(busybox --list); do
              case $a in '['|'[['|echo|false|kill|printf|pwd|test|true) continue;; esac
              for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin; do
                if [ -x $d/$a ] && ! [ $d/$a -ef /usr/bin/busybox ]; then echo "alias $a=$d/$a"; break; fi
              done
            done > /etc/guestlab-aliases
            export ENV=/etc/guestlab-aliases
            """;

    /** The kernel command line parameter naming the root disk by its virtio serial. */
    public static final String ROOT_PARAMETER = "guestlab.root";

    /**
     * The end of /init for a guest that boots a root disk: find the disk whose serial
     * ({@code /sys/block/vdX/serial}) the kernel command line names, waiting a little for its
     * driver, mount it as ext4 and switch to it, running its /sbin/guestlab-init as process 1.
     * Anything missing is said on the console and the guest powers off, so its start fails with
     * that line.
     */
    static final String SWITCH_ROOT = """
            root=$(sed -n 's/.*%1$s=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
            dev=
            for try in $(seq 50); do
              for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$root" ] && dev=/dev/${b##*/} && break; done
              [ -n "$dev" ] && break
              sleep 0.1
            done
            fail() { echo "guestlab: cannot boot the root disk: $*"; poweroff -f; }
            [ -n "$dev" ] || fail "no disk has serial '$root' (%1$s= on the kernel command line)"
            mkdir -p /newroot
            mount -t ext4 "$dev" /newroot || fail "mount -t ext4 $dev failed"
            [ -x /newroot/sbin/guestlab-init ] || fail "$dev has no /sbin/guestlab-init: not a root disk guestlab built"
            umount /proc /sys /dev
            exec switch_root /newroot /sbin/guestlab-init
            """.formatted(ROOT_PARAMETER);

    /** The packages a guest's {@code :packages} bring: each, and everything it depends on. */
    public interface Closure {
        List<DebPackage> of(List<String> packages) throws IOException;
    }

    private final GuestKit kit;
    private final Path kitDir;
    private final Path kernelDeb;
    private final Path busyboxDeb;
    private final Closure closure;
    private final Path debs;
    private final AptFetcher apt;
    private final Consumer<String> progress;

    /**
     * For {@code kit}, built in {@code kitDir} from {@code kernelDeb} and {@code busyboxDeb};
     * packages are resolved by {@code closure}, and those the cache {@code debs} lacks fetched
     * with {@code apt}.
     */
    public ExtendedInitramfs(GuestKit kit, Path kitDir, Path kernelDeb, Path busyboxDeb, Closure closure, Path debs,
                             AptFetcher apt, Consumer<String> progress) {
        this.kit = kit;
        this.kitDir = kitDir;
        this.kernelDeb = kernelDeb;
        this.busyboxDeb = busyboxDeb;
        this.closure = closure;
        this.debs = debs;
        this.apt = apt;
        this.progress = progress;
    }

    /**
     * The kit with {@code modules} (kernel module names; '-' and '_' alike) and {@code packages}
     * (Debian package names) in its initramfs, from the cache when it was built before.
     *
     * @throws IllegalArgumentException a module or package that does not exist, named with the
     *     names near it
     */
    public GuestKit build(List<String> modules, List<String> packages) throws IOException {
        return build(modules, packages, false);
    }

    /**
     * As {@link #build(List, List)}; with {@code rootDisk}, the /init does not give a shell but
     * boots a Debian root disk ({@link #SWITCH_ROOT}): the disk whose serial the kernel command
     * line names as {@value #ROOT_PARAMETER}, mounted as ext4 (so give the ext4 module) and
     * switched to, its /sbin/guestlab-init ({@link RootDisk}) printing the init marker.
     */
    public GuestKit build(List<String> modules, List<String> packages, boolean rootDisk) throws IOException {
        ModuleSet index = ModuleSet.indexed(kitDir.resolve("modules.index"), kernelDeb, progress);
        List<String> unknown = index.unknown(modules);
        if (!unknown.isEmpty()) {
            List<String> parts = new ArrayList<>();
            for (String u : unknown) parts.add(u + NearNames.didYouMean(ModuleSet.canonical(u), index.names()));
            throw new IllegalArgumentException((unknown.size() == 1 ? "kernel module " : "kernel modules ") + String.join(", ", parts)
                    + (unknown.size() == 1 ? " is" : " are") + " not in Debian's " + kit.kernelVersion() + " kernel");
        }
        List<String> wanted = new ArrayList<>(DebianKit.MODULES);
        wanted.addAll(modules);
        List<String> moduleFiles = index.loadOrder(wanted);
        List<DebPackage> closure = packages.isEmpty() ? List.of() : this.closure.of(packages);

        Path dir = kitDir.resolve("extended").resolve(key(moduleFiles, closure, rootDisk));
        Path initrd = dir.resolve(DebianKit.INITRAMFS);
        if (!Files.isRegularFile(initrd)) {
            fetch(closure);
            long t0 = System.nanoTime();
            progress.accept("building the initramfs: " + count(modules.size(), "kernel module") + " and "
                    + count(packages.size(), "Debian package") + " asked for; " + count(moduleFiles.size(), "module") + " and "
                    + count(closure.size(), "package") + " in all, with the virtio modules and what each needs (once for these)");
            Files.createDirectories(dir);
            assemble(moduleFiles, closure, rootDisk).write(initrd);
            Files.writeString(dir.resolve("contents.txt"), contents(moduleFiles, closure, rootDisk));
            progress.accept("built " + initrd + " (" + Files.size(initrd) / MIB + " MiB) in "
                    + String.format("%.1f s", (System.nanoTime() - t0) / 1e9));
        }
        return new GuestKit(kit.kernel(), initrd, kit.kernelVersion());
    }

    private static String count(int n, String what) {
        return n + " " + what + (n == 1 ? "" : "s");
    }

    /**
     * The RAM a guest needs to boot {@code initrd}: the kernel unpacks the archive into a RAM
     * filesystem while the archive itself is still in RAM (so twice its size), besides what the
     * kernel and busybox need.
     */
    public static long memoryNeeded(Path initrd) throws IOException {
        return 2 * Files.size(initrd) + KERNEL_RAM;
    }

    /** The directory name for these modules and packages: a hash of what goes in. */
    private static String key(List<String> moduleFiles, List<DebPackage> closure, boolean rootDisk) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("extended initramfs format " + FORMAT + "\n" + contents(moduleFiles, closure, rootDisk)).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * What the initramfs holds, one line each: "module PATH" in load order, then "package NAME
     * VERSION ARCH", then "boots a root disk" if its init does.
     */
    private static String contents(List<String> moduleFiles, List<DebPackage> closure, boolean rootDisk) {
        StringBuilder s = new StringBuilder();
        for (String m : moduleFiles) s.append("module ").append(m).append('\n');
        for (DebPackage p : closure) s.append("package ").append(p.name()).append(' ').append(p.version()).append(' ')
                .append(p.architecture()).append('\n');
        if (rootDisk) s.append("boots a root disk\n");
        return s.toString();
    }

    /** Downloads the packages the cache does not hold yet, in one apt-get download. */
    private void fetch(List<DebPackage> closure) throws IOException {
        List<DebPackage> missing = closure.stream().filter(p -> !Files.isRegularFile(debs.resolve(p.debFileName()))).toList();
        if (missing.isEmpty()) return;
        progress.accept("downloading " + count(missing.size(), "package") + " (apt-get download) into " + debs);
        Files.createDirectories(debs);
        apt.downloadAll(missing, debs);
    }

    private Initramfs assemble(List<String> moduleFiles, List<DebPackage> closure, boolean rootDisk) throws IOException {
        Initramfs img = new Initramfs();
        for (String d : List.of("dev", "proc", "sys", "etc", "root", "mnt")) img.dir(d);
        img.dir("tmp", 01777);
        PackageRoot root = new PackageRoot(img);
        for (DebPackage p : closure) root.add(debs.resolve(p.debFileName()));
        // guestlab's own files last, so that no package replaces busybox, its sh or /init
        img.file("usr/bin/busybox", 0755, busybox());
        img.symlink("usr/bin/sh", "busybox");
        Map<String, byte[]> kos = moduleBytes(Set.copyOf(moduleFiles));
        StringBuilder order = new StringBuilder();
        for (String m : moduleFiles) {
            String file = m.substring(m.lastIndexOf('/') + 1);
            img.file("usr/lib/modules/" + file, 0644, kos.get(m));
            order.append(file).append('\n');
        }
        img.file("etc/guestlab-modules", 0644, order.toString().getBytes(StandardCharsets.UTF_8));
        StringBuilder setup = new StringBuilder("# and the modules and Debian packages the guest spec asked for\n"
                + "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
        if (!root.libraryPath().isEmpty()) setup.append("export LD_LIBRARY_PATH=").append(root.libraryPath()).append('\n');
        setup.append(PREFER_PACKAGES);
        String init = rootDisk ? DebianKit.initScript(setup.toString(), SWITCH_ROOT) : DebianKit.initScript(setup.toString());
        img.file("init", 0755, init.getBytes(StandardCharsets.UTF_8));
        return img;
    }

    private byte[] busybox() throws IOException {
        byte[][] found = new byte[1][];
        DebArchive.forEachEntry(busyboxDeb, (path, t, data) -> {
            if (path.equals("bin/busybox") && t.isFile() && !t.isSymbolicLink()) found[0] = data.readAllBytes();
        });
        if (found[0] == null) throw new IOException(busyboxDeb + " has no bin/busybox");
        return found[0];
    }

    /** The bytes of these .ko files (paths relative to lib/modules/VERSION), read from the kernel package. */
    private Map<String, byte[]> moduleBytes(Set<String> wanted) throws IOException {
        String prefix = "lib/modules/" + kit.kernelVersion() + "/";
        Map<String, byte[]> out = new HashMap<>();
        DebArchive.forEachEntry(kernelDeb, (path, t, data) -> {
            if (path.startsWith(prefix) && wanted.contains(path.substring(prefix.length()))) {
                out.put(path.substring(prefix.length()), data.readAllBytes());
            }
        });
        for (String m : wanted) if (!out.containsKey(m)) throw new IOException(kernelDeb + " has no " + prefix + m);
        return out;
    }
}

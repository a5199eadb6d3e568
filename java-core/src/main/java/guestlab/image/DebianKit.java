package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The guest kit from Debian's own packages: the stock kernel of linux-image-amd64 and a
 * busybox-static userland in an initramfs whose /init loads the virtio modules and prints
 * {@link GuestKit#INIT_MARKER}. Everything is cached under the given directory and reused.
 */
public final class DebianKit {
    /** The drivers the guest needs; their dependencies (virtio_ring, failover, ...) come along. */
    static final List<String> MODULES = List.of("virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng");

    private final Path cache;
    private final AptFetcher apt;
    private final Consumer<String> progress;
    private GuestKit resolved;

    public DebianKit(Path cache, Consumer<String> progress) {
        this.cache = cache;
        this.progress = progress;
        this.apt = new AptFetcher(cache.resolve("debs"), progress);
    }

    /** The default cache: $XDG_CACHE_HOME/guestlab or ~/.cache/guestlab. */
    public static Path defaultCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("guestlab");
    }

    /** The kit, built on first use and reused after (asked of apt once per DebianKit object). */
    public synchronized GuestKit get() throws IOException {
        if (resolved == null) resolved = resolve();
        return resolved;
    }

    private GuestKit resolve() throws IOException {
        String kernelPkg = apt.dependency("linux-image-amd64", "linux-image-");
        Path kernelDeb = apt.fetch(kernelPkg);
        Path busyboxDeb = apt.fetch("busybox-static");
        String key = kernelDeb.getFileName().toString().replace(".deb", "") + "+"
                + busyboxDeb.getFileName().toString().replace(".deb", "");
        Path kitDir = cache.resolve("kits").resolve(key);
        Path kernel = kitDir.resolve("vmlinuz");
        Path initrd = kitDir.resolve("initrd.img");
        Path version = kitDir.resolve("kernel-version");
        if (Files.isRegularFile(initrd) && Files.isRegularFile(kernel) && Files.isRegularFile(version)) {
            return new GuestKit(kernel, initrd, Files.readString(version).strip());
        }
        progress.accept("building the guest kit from " + kernelDeb.getFileName() + " and " + busyboxDeb.getFileName());
        Path work = Files.createTempDirectory(cache, "unpack-");
        try {
            DebArchive.extract(kernelDeb, work, n -> n.startsWith("boot/vmlinuz-") || n.startsWith("lib/modules/"));
            DebArchive.extract(busyboxDeb, work, n -> n.equals("bin/busybox"));
            Path vmlinuz = single(work.resolve("boot"), "vmlinuz-");
            String kver = vmlinuz.getFileName().toString().substring("vmlinuz-".length());
            Path modDir = work.resolve("lib/modules").resolve(kver);
            Files.createDirectories(kitDir);
            buildInitramfs(work.resolve("bin/busybox"), modDir).write(initrd);
            Files.copy(vmlinuz, kernel, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.writeString(version, kver + "\n");
            return new GuestKit(kernel, initrd, kver);
        } finally {
            deleteTree(work);
        }
    }

    /** busybox, the virtio modules in load order, and an /init that loads them. */
    static Initramfs buildInitramfs(Path busybox, Path moduleDir) throws IOException {
        ModuleSet mods = ModuleSet.scan(moduleDir);
        List<String> builtin = Files.exists(moduleDir.resolve("modules.builtin"))
                ? Files.readAllLines(moduleDir.resolve("modules.builtin")) : List.of();
        List<String> wanted = new ArrayList<>();
        for (String m : MODULES) {
            if (mods.has(m)) wanted.add(m);
            else if (builtin.stream().noneMatch(l -> l.endsWith("/" + m + ".ko"))) {
                throw new IOException("kernel module " + m + " is neither in the kernel package nor built in");
            }
        }
        Initramfs img = new Initramfs();
        for (String d : List.of("dev", "proc", "sys", "tmp", "etc", "bin", "sbin")) img.dir(d);
        img.file("bin/busybox", 0755, Files.readAllBytes(busybox));
        img.symlink("bin/sh", "busybox");
        StringBuilder order = new StringBuilder();
        for (Path ko : mods.loadOrder(wanted)) {
            String name = ko.getFileName().toString();
            img.file("lib/modules/" + name, 0644, Files.readAllBytes(ko));
            order.append(name).append('\n');
        }
        img.file("etc/guestlab-modules", 0644, order.toString().getBytes(StandardCharsets.UTF_8));
        img.file("init", 0755, initScript().getBytes(StandardCharsets.UTF_8));
        return img;
    }

    static String initScript() {
        return """
                #!/bin/sh
                # guestlab's init: mount the basics, load the virtio modules, say so, give a shell.
                /bin/busybox --install -s /bin
                mount -t proc proc /proc
                mount -t sysfs sysfs /sys
                mount -t devtmpfs devtmpfs /dev
                for m in $(cat /etc/guestlab-modules); do
                  insmod /lib/modules/$m || echo "guestlab: insmod $m failed"
                done
                echo %s
                exec setsid cttyhack /bin/sh
                """.formatted(GuestKit.INIT_MARKER);
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

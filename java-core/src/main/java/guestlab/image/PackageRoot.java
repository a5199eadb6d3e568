package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The files of Debian packages merged into an initramfs as a root filesystem with Debian's
 * merged-/usr layout: /bin, /sbin, /lib and /lib64 are symlinks to their /usr directories (as on
 * an installed Debian 12), and whatever a package ships under them is put under /usr. Modes
 * (setuid included) and symlinks are kept as the package has them; hard links become copies;
 * owners become root (the initramfs has no other users).
 *
 * <p>Only the data archive is taken: maintainer scripts (postinst and the rest) are not run, so
 * nothing a package would generate at install time exists (ld.so.cache, alternatives links,
 * users, systemd units enabled). Most tools need none of it. Documentation, manual pages and
 * message catalogues are left out (/usr/share/doc, man, info, locale), as Debian's slim container
 * images leave them out: they are megabytes of guest RAM that no program reads.
 *
 * <p>Without ld.so.cache the dynamic loader finds libraries in its built-in directories, which on
 * Debian include the multiarch ones (/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu); a
 * package that puts libraries elsewhere names that directory in /etc/ld.so.conf.d, and
 * {@link #libraryPath()} collects those for LD_LIBRARY_PATH.
 */
final class PackageRoot {
    /** The top-level directories that are symlinks into /usr. */
    static final List<String> MERGED = List.of("bin", "sbin", "lib", "lib64");
    private static final List<String> LEFT_OUT = List.of("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/");

    private final Initramfs img;
    /** The regular files added so far, by path: a hard link is a copy of one of them. */
    private final Map<String, byte[]> files = new HashMap<>();
    private final Set<String> libraryDirs = new LinkedHashSet<>();

    /** Makes {@code img}'s /usr directories and the top-level symlinks to them. */
    PackageRoot(Initramfs img) {
        this.img = img;
        for (String d : MERGED) {
            img.dir("usr/" + d);
            img.symlink(d, "usr/" + d);
        }
    }

    /** Where {@code path} (a package's path, without "./") lives in the merged-/usr root. */
    static String merged(String path) {
        String p = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        for (String d : MERGED) {
            if (p.equals(d) || p.startsWith(d + "/")) return "usr/" + p;
        }
        return p;
    }

    /** Adds the files, directories and symlinks of {@code deb}'s data archive; later packages win a clash. */
    void add(Path deb) throws IOException {
        DebArchive.forEachEntry(deb, (name, t, data) -> {
            String path = merged(name);
            if (path.isEmpty() || path.equals("usr") || LEFT_OUT.stream().anyMatch(x -> (path + "/").startsWith(x))) return;
            if (path.contains("/../") || path.startsWith("../") || path.startsWith("/")) {
                throw new IOException(deb.getFileName() + ": entry " + t.getName() + " leaves the root");
            }
            int mode = t.getMode() & 07777;
            if (t.isDirectory()) {
                img.dir(path, mode);
            } else if (t.isSymbolicLink()) {
                img.symlink(path, t.getLinkName());
            } else if (t.isLink()) {
                String target = merged(t.getLinkName().replaceFirst("^\\./", ""));
                byte[] bytes = files.get(target);
                if (bytes == null) throw new IOException(deb.getFileName() + ": hard link " + name + " to " + target + ", which it does not have");
                file(path, mode, bytes);
            } else if (t.isFile()) {
                file(path, mode, data.readAllBytes());
            }
        });
    }

    private void file(String path, int mode, byte[] bytes) {
        img.file(path, mode, bytes);
        files.put(path, bytes);
        if (path.startsWith("etc/ld.so.conf.d/") && path.endsWith(".conf")) {
            for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
                String dir = line.strip();
                if (dir.startsWith("/")) libraryDirs.add(dir);
            }
        }
    }

    /**
     * The library directories the packages' /etc/ld.so.conf.d names, joined with ':' for
     * LD_LIBRARY_PATH (the loader reads those files only through ld.so.cache, which ldconfig
     * would write at install time); empty if they name none.
     */
    String libraryPath() {
        return String.join(":", libraryDirs);
    }
}

package guestlab.image;

import org.apache.commons.compress.archivers.ar.ArArchiveEntry;
import org.apache.commons.compress.archivers.ar.ArArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A Debian package (.deb): an ar archive whose data.tar.{xz,gz} member holds the files. Unpacked
 * in Java; entries that would land outside the destination are refused.
 */
public final class DebArchive {
    private DebArchive() {}

    /** What {@link #forEachEntry} calls for each entry of a data archive. */
    @FunctionalInterface
    public interface EntryVisitor {
        /**
         * {@code path}: the entry's path without the leading "./"; {@code data}: its bytes, for a
         * regular file (read them here, before returning).
         */
        void visit(String path, TarArchiveEntry entry, InputStream data) throws IOException;
    }

    /**
     * Calls {@code visitor} for every entry (directories, files, symlinks, hard links) of
     * {@code deb}'s data archive, in the archive's order.
     */
    public static void forEachEntry(Path deb, EntryVisitor visitor) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(deb));
             ArArchiveInputStream ar = new ArArchiveInputStream(in)) {
            ArArchiveEntry e;
            while ((e = ar.getNextEntry()) != null) {
                String name = e.getName();
                if (!name.startsWith("data.tar")) continue;
                TarArchiveInputStream tar = new TarArchiveInputStream(decompress(deb, name, ar));
                TarArchiveEntry t;
                while ((t = tar.getNextEntry()) != null) {
                    String path = t.getName().replaceFirst("^\\./", "");
                    if (!path.isEmpty()) visitor.visit(path, t, tar);
                }
                return;
            }
        }
        throw new IOException(deb + " has no data.tar member: not a Debian package");
    }

    /**
     * Extracts the files and symlinks of {@code deb}'s data archive whose path (without the
     * leading "./") {@code wanted} accepts, under {@code dest}. Returns how many were extracted.
     */
    public static int extract(Path deb, Path dest, Predicate<String> wanted) throws IOException {
        Path root = dest.toAbsolutePath().normalize();
        int[] n = {0};
        forEachEntry(deb, (name, t, data) -> {
            if (t.isDirectory() || !wanted.test(name)) return;
            Path target = root.resolve(name).normalize();
            if (!target.startsWith(root)) throw new IOException("package entry " + t.getName() + " escapes " + dest);
            Files.createDirectories(target.getParent());
            if (t.isSymbolicLink()) {
                Files.deleteIfExists(target);
                Files.createSymbolicLink(target, Path.of(t.getLinkName()));
            } else if (t.isFile()) {
                Files.copy(data, target, StandardCopyOption.REPLACE_EXISTING);
                if ((t.getMode() & 0111) != 0) target.toFile().setExecutable(true, false);
            } else {
                return;
            }
            n[0]++;
        });
        return n[0];
    }

    /**
     * The fields of {@code deb}'s control file (Package, Version, Architecture, ...), read from
     * its control.tar member; the data archive is not read. Continuation lines are dropped.
     */
    public static Map<String, String> control(Path deb) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(deb));
             ArArchiveInputStream ar = new ArArchiveInputStream(in)) {
            ArArchiveEntry e;
            while ((e = ar.getNextEntry()) != null) {
                String name = e.getName();
                if (!name.startsWith("control.tar")) continue;
                TarArchiveInputStream tar = new TarArchiveInputStream(decompress(deb, name, ar));
                TarArchiveEntry t;
                while ((t = tar.getNextEntry()) != null) {
                    if (!t.getName().replaceFirst("^\\./", "").equals("control")) continue;
                    Map<String, String> fields = new LinkedHashMap<>();
                    for (String line : new String(tar.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
                        int colon = line.indexOf(':');
                        if (colon > 0 && !Character.isWhitespace(line.charAt(0))) {
                            fields.put(line.substring(0, colon), line.substring(colon + 1).strip());
                        }
                    }
                    return fields;
                }
                throw new IOException(deb + ": its " + name + " has no control file");
            }
        }
        throw new IOException(deb + " has no control.tar member: not a Debian package");
    }

    private static InputStream decompress(Path deb, String member, InputStream in) throws IOException {
        return switch (member.substring(member.indexOf(".tar") + 4)) {
            case ".xz" -> new XZCompressorInputStream(in);
            case ".gz" -> new GzipCompressorInputStream(in);
            case "" -> in;
            default -> throw new IOException(deb + ": " + member + " is compressed in a way guestlab does not read");
        };
    }
}

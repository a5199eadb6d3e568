package guestlab.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A package a kit lock pins, as a file: taken from the .deb cache, or downloaded by its exact
 * version when missing, and accepted only with the sha256 the lock records.
 */
final class PinnedDeb {
    private PinnedDeb() {}

    /**
     * The .deb of {@code p} in {@code debs}, checked against the lock.
     *
     * @throws IOException naming the package and what is wrong (not downloadable, another sha256)
     */
    static Path fetch(KitLock.Package p, Path debs, Apt apt, Consumer<String> progress) throws IOException {
        Path deb = debs.resolve(p.debFileName());
        if (!Files.isRegularFile(deb)) {
            progress.accept("downloading " + p.aptSpec() + " (apt-get download) into " + debs);
            try {
                Files.createDirectories(debs);
                apt.download(p.aptSpec(), debs);
            } catch (IOException e) {
                throw new IOException(p + " is not in the cache (" + debs + ") and apt-get download failed: " + Apt.reason(e), e);
            }
            if (!Files.isRegularFile(deb)) {
                throw new IOException(p + " is not in the cache (" + debs + ") and apt-get download left no " + deb.getFileName());
            }
        }
        String sha = DebianKit.sha256(deb);
        if (!sha.equals(p.sha256())) {
            throw new IOException(deb.getFileName() + " has sha256 " + sha + ", the lock says " + p.sha256()
                    + " (not the package the lock names; delete " + deb + " to download it again)");
        }
        return deb;
    }
}

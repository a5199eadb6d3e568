package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Debian packages fetched with the system's apt (apt-get download: no root needed) into a cache
 * directory, and reused from there.
 */
public final class AptFetcher {
    private final Path cache;
    private final Consumer<String> progress;

    /** @param progress told one line per step ("downloading linux-image-...") */
    public AptFetcher(Path cache, Consumer<String> progress) {
        this.cache = cache;
        this.progress = progress;
    }

    /** The cached .deb of {@code pkg}, downloading it first if there is none. */
    public Path fetch(String pkg) throws IOException {
        Path have = cached(pkg);
        if (have != null) return have;
        progress.accept("downloading " + pkg + " (apt-get download) into " + cache);
        run(List.of("apt-get", "download", "-q", pkg), 600);
        have = cached(pkg);
        if (have == null) throw new IOException("apt-get download " + pkg + " left no " + pkg + "_*.deb in " + cache);
        return have;
    }

    /** The concrete package a metapackage such as linux-image-amd64 depends on, by name prefix. */
    public String dependency(String metapackage, String prefix) throws IOException {
        String out = run(List.of("apt-cache", "depends", "--no-recommends", "--no-suggests", metapackage), 60);
        for (String line : out.split("\n")) {
            String t = line.trim();
            if (t.startsWith("Depends: " + prefix)) return t.substring("Depends: ".length()).trim();
        }
        throw new IOException("apt-cache depends " + metapackage + " names no " + prefix + "* package:\n" + out);
    }

    private Path cached(String pkg) throws IOException {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(cache, pkg + "_*.deb")) {
            for (Path p : ds) return p;
        }
        return null;
    }

    private String run(List<String> cmd, int timeoutSeconds) throws IOException {
        Files.createDirectories(cache);
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(cache.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException(cmd.getFirst() + " is not available (" + e.getMessage() + "). guestlab fetches Debian's "
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

package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The system's apt: apt-cache depends, and apt-get download (no root needed). */
public final class AptFetcher implements Apt {
    @Override
    public void download(String what, Path dir) throws IOException {
        run(List.of("apt-get", "download", "-q", what), dir, 600);
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

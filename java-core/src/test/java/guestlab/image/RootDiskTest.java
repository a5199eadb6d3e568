package guestlab.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * How a root disk build fails, with stand-in tools (no network, no mmdebstrap run), and how the
 * image's package list is read. A real build and boot: repl/test/guestlab/rootfs_test.clj.
 */
class RootDiskTest {
    @TempDir
    Path dir;

    private final List<String> progress = new ArrayList<>();

    private static final RootDisk.Request REQUEST = new RootDisk.Request("bookworm", "amd64", List.of("e2fsprog"), 0);

    /** A stand-in for a tool: prints its version for -V or --version, else prints {@code output} and exits with {@code status}. */
    private Path tool(String name, String output, int status) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\ncase \"$1\" in -V|--version) echo \"" + name + " 0.0\"; exit 0;; esac\ncat <<'OUT'\n"
                + output + "\nOUT\nexit " + status + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    @Test
    void withoutMmdebstrapTheErrorSaysHowToInstallIt() {
        RootDisk disks = new RootDisk(dir.resolve("cache"), dir.resolve("no-such-mmdebstrap").toString(), "true", progress::add);
        IOException e = assertThrows(IOException.class, () -> disks.image(REQUEST, r -> {}));
        assertEquals("mmdebstrap is not installed; it builds the Debian root disk: apt-get install mmdebstrap "
                + "(./guestlab installs it on first use)", e.getMessage());
    }

    @Test
    void aPackageTheReleaseDoesNotHaveIsNamed() throws IOException {
        Path mmdebstrap = tool("mmdebstrap", "I: running apt-get update...\nE: Unable to locate package e2fsprog\n"
                + "E: setup failed: E: apt-get ... failed", 1);
        RootDisk disks = new RootDisk(dir.resolve("cache"), mmdebstrap.toString(), tool("mkfs.ext4", "", 0).toString(), progress::add);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> disks.image(REQUEST, r -> {}));
        assertEquals("Debian package e2fsprog is not in Debian bookworm (mmdebstrap: E: Unable to locate package e2fsprog)",
                e.getMessage());
        assertTrue(progress.contains("mmdebstrap: running apt-get update..."), "mmdebstrap's progress lines are passed on: " + progress);
        try (var left = Files.list(dir.resolve("cache/rootfs"))) {
            assertEquals(List.of(), left.filter(p -> !p.toString().endsWith(".lock") && !p.toString().endsWith(".build.log")).toList(),
                    "a failed build leaves no image, only its log");
        }
    }

    @Test
    void theCheckRefusesARequestBeforeMmdebstrapRuns() throws IOException {
        Path mmdebstrap = tool("mmdebstrap", "I: must not run", 1);
        RootDisk disks = new RootDisk(dir.resolve("cache"), mmdebstrap.toString(), tool("mkfs.ext4", "", 0).toString(), progress::add);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> disks.image(REQUEST, r -> {
            throw new IllegalArgumentException("Debian package e2fsprog (did you mean e2fsprogs?) is not known to apt");
        }));
        assertEquals("Debian package e2fsprog (did you mean e2fsprogs?) is not known to apt", e.getMessage());
        assertFalse(progress.stream().anyMatch(l -> l.contains("must not run")), String.valueOf(progress));
    }

    @Test
    void theImagesPackagesAreReadFromItsDpkgStatus() throws IOException {
        Path root = dir.resolve("root");
        Files.createDirectories(root.resolve("var/lib/dpkg"));
        Files.writeString(root.resolve("var/lib/dpkg/status"), """
                Package: mawk
                Status: install ok installed
                Architecture: amd64
                Version: 1.3.4.20200120-3.1

                Package: gone
                Status: deinstall ok config-files
                Architecture: amd64
                Version: 1.0

                Package: base-files
                Status: install ok installed
                Architecture: amd64
                Version: 12.4+deb12u12
                """);
        assertEquals(List.of("base-files 12.4+deb12u12 amd64", "mawk 1.3.4.20200120-3.1 amd64"), RootDisk.installed(root));
    }
}

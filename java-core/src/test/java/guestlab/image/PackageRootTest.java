package guestlab.image;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Debian's bzip2 and libc6 packages (fetched with apt into the cache once) merged into a root. */
class PackageRootTest {
    static CpioEntries root;
    static String libraryPath;

    @BeforeAll
    static void merge() throws IOException {
        AptFetcher apt = new AptFetcher();
        List<DebPackage> pkgs = apt.closure(List.of("bzip2"), "amd64").stream()
                .filter(p -> p.name().equals("bzip2") || p.name().equals("libc6")).toList();
        Path debs = RealKit.debs();
        Files.createDirectories(debs);
        List<DebPackage> missing = pkgs.stream().filter(p -> !Files.isRegularFile(debs.resolve(p.debFileName()))).toList();
        if (!missing.isEmpty()) apt.downloadAll(missing, debs);
        Initramfs img = new Initramfs();
        PackageRoot merged = new PackageRoot(img);
        for (DebPackage p : pkgs) merged.add(debs.resolve(p.debFileName()));
        root = CpioEntries.of(img.bytes());
        libraryPath = merged.libraryPath();
    }

    @Test
    void binSbinLibAndLib64AreSymlinksIntoUsr() {
        for (String d : List.of("bin", "sbin", "lib", "lib64")) {
            assertTrue(root.get(d).isSymbolicLink(), d);
            assertEquals("usr/" + d, root.text(d));
            assertTrue(root.get("usr/" + d).isDirectory(), "usr/" + d);
        }
        assertNull(root.get("bin/bunzip2"), "nothing is put through a symlink");
    }

    @Test
    void aPackagesFilesKeepTheirModesLinksAndBytes() {
        assertTrue(root.get("usr/bin/bunzip2").isRegularFile());
        assertEquals(0755, root.mode("usr/bin/bunzip2"));
        assertEquals("\u007fELF", root.text("usr/bin/bunzip2").substring(0, 4));
        assertArrayEquals(root.data().get("usr/bin/bunzip2"), root.data().get("usr/bin/bzip2"), "a hard link is a copy");
        assertArrayEquals(root.data().get("usr/bin/bunzip2"), root.data().get("usr/bin/bzcat"));
        assertTrue(root.get("usr/bin/bzless").isSymbolicLink());
        assertEquals("bzmore", root.text("usr/bin/bzless"));
    }

    @Test
    void theDynamicLoaderIsWhereProgramsLookForIt() {
        assertTrue(root.get("usr/lib64/ld-linux-x86-64.so.2").isSymbolicLink());
        String target = root.text("usr/lib64/ld-linux-x86-64.so.2");
        assertEquals("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", target);
        assertTrue(root.get("usr" + target).isRegularFile(), "/lib is usr/lib, which has the loader");
        assertTrue(List.of(libraryPath.split(":")).contains("/usr/lib/x86_64-linux-gnu"), libraryPath);
    }

    @Test
    void documentationIsLeftOut() {
        assertTrue(root.entries().keySet().stream().noneMatch(n -> n.startsWith("usr/share/doc/") || n.startsWith("usr/share/man/")),
                "no docs or manual pages");
    }
}

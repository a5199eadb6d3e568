package guestlab.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class KitLockTest {
    @TempDir
    Path dir;

    static final String A = "a".repeat(64), B = "b".repeat(64), C = "c".repeat(64), D = "d".repeat(64);

    static KitLock lock() {
        return new KitLock(List.of(
                new KitLock.Package("linux-image-6.1.0-50-amd64", "6.1.176-1", "amd64", A),
                new KitLock.Package("busybox-static", "1:1.35.0-4+deb12u1+b1", "amd64", B)),
                "6.1.0-50-amd64", C, D);
    }

    @Test
    void aLockRoundTripsThroughItsFile() throws Exception {
        Path f = dir.resolve("guestlab-kit.edn");
        lock().write(f);
        assertEquals(lock(), KitLock.read(f));
        String text = Files.readString(f);
        assertTrue(text.contains("{:kit-format 1\n"), text);
        assertTrue(text.contains(":name \"busybox-static\" :version \"1:1.35.0-4+deb12u1+b1\" :architecture \"amd64\""), text);
        assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        try (var s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList(), "no temp file left");
        }
    }

    @Test
    void theWrittenShapeIsExactlyThis() {
        assertEquals("""
                ;; guestlab kit lock: the exact Debian packages of the guest kit, and what guestlab builds from them.
                ;; Written by ./guestlab kit lock; a guest spec names it as :kit "guestlab-kit.edn".
                {:kit-format 1
                 :packages [{:name "linux-image-6.1.0-50-amd64" :version "6.1.176-1" :architecture "amd64"
                             :sha256 "%s"}
                            {:name "busybox-static" :version "1:1.35.0-4+deb12u1+b1" :architecture "amd64"
                             :sha256 "%s"}]
                 :kernel-version "6.1.0-50-amd64"
                 :kernel-sha256 "%s"
                 :initramfs-sha256 "%s"}
                """.formatted(A, B, C, D), lock().toEdn());
    }

    static KitLock withGuestPackages() {
        return lock().withGuestPackages(List.of(
                new KitLock.Package("e2fsprogs", "1.47.0-2+b2", "amd64", A),
                new KitLock.Package("libc6", "2.36-9+deb12u14", "amd64", B)));
    }

    @Test
    void guestPackagesAreWrittenAfterTheKitAndReadBack() throws Exception {
        String edn = withGuestPackages().toEdn();
        assertTrue(edn.endsWith("""
                 :initramfs-sha256 "%s"
                 :guest-packages [{:name "e2fsprogs" :version "1.47.0-2+b2" :architecture "amd64"
                                   :sha256 "%s"}
                                  {:name "libc6" :version "2.36-9+deb12u14" :architecture "amd64"
                                   :sha256 "%s"}]}
                """.formatted(D, A, B)), edn);
        Path f = dir.resolve("guestlab-kit.edn");
        withGuestPackages().write(f);
        assertEquals(withGuestPackages(), KitLock.read(f));
        assertEquals(List.of(), lock().guestPackages(), "a lock without :guest-packages pins none");
        assertEquals("kit lock k.edn: :guest-packages names a package more than once",
                problem(edn.replace("\"libc6\"", "\"e2fsprogs\"")));
    }

    @Test
    void aHandWrittenLockReads() {
        String edn = """
                ; pinned for the course, 2026
                {:packages [{:sha256 "%s", :architecture "amd64", :version "1:1.35.0-4+deb12u1+b1", :name "busybox-static"}
                            {:name "linux-image-6.1.0-50-amd64" :version "6.1.176-1" :architecture "amd64" :sha256 "%s"}]
                 :initramfs-sha256 "%s" :kernel-sha256 "%s"
                 :kernel-version "6.1.0-50-amd64", :kit-format 1}  ; the end
                """.formatted(B, A, D, C);
        KitLock l = KitLock.parse(edn, "mine.edn");
        assertEquals("linux-image-6.1.0-50-amd64", l.kernelPackage().name());
        assertEquals("busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb", l.busyboxPackage().debFileName());
        assertEquals("busybox-static:amd64=1:1.35.0-4+deb12u1+b1", l.busyboxPackage().aptSpec());
    }

    private static String problem(String edn) {
        return assertThrows(IllegalArgumentException.class, () -> KitLock.parse(edn, "k.edn")).getMessage();
    }

    @Test
    void whatIsNotALockIsNamed() {
        String good = lock().toEdn();
        assertEquals("kit lock k.edn: the lock has an unknown key :kernel-sha (its keys: [:guest-packages, :initramfs-sha256, "
                + ":kernel-sha256, :kernel-version, :kit-format, :packages])", problem(good.replace(":kernel-sha256", ":kernel-sha")));
        assertEquals("kit lock k.edn: the lock has no :initramfs-sha256",
                problem(good.replaceFirst(" :initramfs-sha256 \"d+\"", "")));
        assertEquals("kit lock k.edn: busybox-static: sha256 \"" + B.substring(1) + "\" is not 64 lower-case hex digits",
                problem(good.replace(B, B.substring(1))));
        assertEquals("kit lock k.edn: it is kit format 2, written by a newer guestlab; this one reads format 1",
                problem(good.replace(":kit-format 1", ":kit-format 2")));
        assertEquals("kit lock k.edn: :packages must be one linux-image-* package and busybox-static, not "
                + "[linux-image-6.1.0-50-amd64, busybox]", problem(good.replace("\"busybox-static\"", "\"busybox\"")));
        assertEquals("kit lock k.edn: line 10: the map opened on line 3 is not closed", problem(good.substring(0, good.lastIndexOf('}'))));
        assertEquals("kit lock k.edn: line 1: unexpected '#' (a lock holds maps, vectors, strings, keywords and integers)",
                problem("#{:kit-format 1}"));
        assertEquals("kit lock k.edn: the lock must be a map, not [1]", problem("[1]"));
        assertEquals("kit lock k.edn: line 1: :kit-format appears twice", problem("{:kit-format 1 :kit-format 1}"));
        assertEquals("kit lock k.edn: line 3: more after the lock's map", problem("{}\n\n{}"));
    }

    @Test
    void aMissingLockFileSaysHowToWriteOne() {
        var e = assertThrows(NoSuchFileException.class, () -> KitLock.read(dir.resolve("nope.edn")));
        assertEquals("kit lock " + dir.resolve("nope.edn") + ": no such file (./guestlab kit lock writes one)", e.getMessage());
    }
}

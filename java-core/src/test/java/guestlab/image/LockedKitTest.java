package guestlab.image;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A kit lock in use, on small packages made by the test (FakeDebs): the kit comes from the cache
 * without apt, a missing package is downloaded by its exact version, and every way of not getting
 * the locked kit is refused with a message that names what is wrong.
 */
class LockedKitTest {
    @TempDir
    Path dir;
    Path cache;
    Path mirror;
    final List<String> progress = new ArrayList<>();
    final List<String> downloads = new ArrayList<>();

    /** apt as the tests want it: linux-image-amd64 depends on the fake kernel; downloads come from the mirror. */
    final Apt apt = new Apt() {
        @Override
        public String dependency(String metapackage, String prefix) {
            assertEquals("linux-image-amd64", metapackage);
            return FakeDebs.KERNEL;
        }

        @Override
        public void download(String what, Path into) throws IOException {
            downloads.add(what);
            String name = what.replaceFirst(":.*", "");
            try (var s = Files.newDirectoryStream(mirror, name + "_*.deb")) {
                for (Path p : s) Files.copy(p, into.resolve(p.getFileName()));
            }
        }
    };

    /** apt that fails as apt-get does when it cannot find a version (or has no network). */
    static final Apt FAILING_APT = new Apt() {
        @Override
        public String dependency(String metapackage, String prefix) throws IOException {
            throw new IOException("apt-cache is not available: Cannot run program \"apt-cache\": error=2, No such file or directory\n"
                    + "guestlab fetches Debian's kernel and busybox with apt; ...");
        }

        @Override
        public void download(String what, Path into) throws IOException {
            String[] nv = what.split("=", 2);
            throw new IOException("apt-get download -q " + what + " failed (exit 100):\nE: Version '" + nv[1] + "' for '"
                    + nv[0].replaceFirst(":.*", "") + "' was not found\n(if apt's package lists are missing, run: sudo apt-get update)");
        }
    };

    @BeforeEach
    void packages() throws IOException {
        cache = dir.resolve("cache");
        mirror = dir.resolve("mirror");
        FakeDebs.kernel(mirror, "HdrS a kernel image");
        FakeDebs.busybox(mirror, "\u007fELF busybox");
    }

    /** The kit apt offers (downloaded into the cache from the mirror), as a lock. */
    private KitLock lockToday() throws IOException {
        return new DebianKit(cache, apt, progress::add).rebuiltManifest();
    }

    private Path kitDir() throws IOException {
        try (var s = Files.list(cache.resolve("kits"))) {
            return s.findFirst().orElseThrow();
        }
    }

    @Test
    void aLockedKitComesFromTheCacheWithoutAskingApt() throws Exception {
        KitLock lock = lockToday();
        assertEquals(List.of(FakeDebs.KERNEL, "busybox-static"), lock.packages().stream().map(KitLock.Package::name).toList());
        assertEquals(FakeDebs.KVER, lock.kernelVersion());
        assertEquals(DebianKit.sha256(cache.resolve("debs").resolve(lock.busyboxPackage().debFileName())), lock.busyboxPackage().sha256());

        progress.clear();
        DebianKit locked = DebianKit.locked(cache, lock, "test-kit.edn", OfflineApt.INSTANCE, progress::add);
        GuestKit kit = locked.get();
        assertEquals("HdrS a kernel image", Files.readString(kit.kernel()));
        assertEquals(lock.kernelSha256(), DebianKit.sha256(kit.kernel()));
        assertEquals(lock.initramfsSha256(), DebianKit.sha256(kit.initrd()));
        assertEquals(FakeDebs.KVER, kit.kernelVersion());
        assertEquals(lock, locked.manifest());
        assertEquals("kit: linux-image-6.1.0-99-amd64 6.1.999-1 + busybox-static 1:1.35.0-4+b3 (sha256 vmlinuz "
                + lock.kernelSha256().substring(0, 12) + ", initramfs " + lock.initramfsSha256().substring(0, 12)
                + "; locked by test-kit.edn)", locked.summary());
        assertEquals(List.of(), progress, "nothing downloaded or built: the cache holds the kit");
    }

    @Test
    void aPackageMissingFromTheCacheIsDownloadedByItsExactVersion() throws Exception {
        KitLock lock = lockToday();
        Files.delete(cache.resolve("debs").resolve(lock.busyboxPackage().debFileName()));
        downloads.clear();
        DebianKit.locked(cache, lock, "test-kit.edn", apt, progress::add).get();
        assertEquals(List.of("busybox-static:amd64=1:1.35.0-4+b3"), downloads);
    }

    @Test
    void packagesThatCannotBeHadAreNamedAndNothingIsBuilt() throws Exception {
        KitLock lock = lockToday();
        Path empty = dir.resolve("empty-cache");
        var e = assertThrows(IOException.class, () -> DebianKit.locked(empty, lock, "test-kit.edn", FAILING_APT, s -> {}).get());
        Path debs = empty.resolve("debs");
        assertEquals("kit lock test-kit.edn: linux-image-6.1.0-99-amd64 6.1.999-1 is not in the cache (" + debs
                + ") and apt-get download failed: E: Version '6.1.999-1' for 'linux-image-6.1.0-99-amd64' was not found; "
                + "busybox-static 1:1.35.0-4+b3 is not in the cache (" + debs + ") and apt-get download failed: "
                + "E: Version '1:1.35.0-4+b3' for 'busybox-static' was not found", e.getMessage());
        assertFalse(Files.exists(empty.resolve("kits")));
    }

    @Test
    void aDebWhoseSha256DiffersFromTheLockIsRefused() throws Exception {
        KitLock lock = lockToday();
        Path deb = FakeDebs.busybox(cache.resolve("debs"), "\u007fELF another busybox"); // same name, other bytes
        String actual = DebianKit.sha256(deb);
        var e = assertThrows(IOException.class, () -> DebianKit.locked(cache, lock, "test-kit.edn", OfflineApt.INSTANCE, s -> {}).get());
        assertEquals("kit lock test-kit.edn: busybox-static_1%3a1.35.0-4+b3_amd64.deb has sha256 " + actual + ", the lock says "
                + lock.busyboxPackage().sha256() + " (not the package the lock names; delete " + deb + " to download it again)",
                e.getMessage());
    }

    @Test
    void aKitDirectoryThatDiffersFromTheLockIsBuiltAgain() throws Exception {
        KitLock lock = lockToday();
        Files.writeString(kitDir().resolve(DebianKit.INITRAMFS), "not the initramfs");
        progress.clear();
        GuestKit kit = DebianKit.locked(cache, lock, "test-kit.edn", OfflineApt.INSTANCE, progress::add).get();
        assertEquals(lock.initramfsSha256(), DebianKit.sha256(kit.initrd()));
        assertTrue(progress.getFirst().contains("is not the one test-kit.edn names; building it again"), progress.toString());
    }

    @Test
    void anInitramfsThatThisGuestlabBuildsDifferentlyIsNamed() throws Exception {
        KitLock built = lockToday();
        String other = "0".repeat(64);
        KitLock lock = new KitLock(built.packages(), built.kernelVersion(), built.kernelSha256(), other);
        var e = assertThrows(IOException.class, () -> DebianKit.locked(cache, lock, "test-kit.edn", OfflineApt.INSTANCE, s -> {}).get());
        assertEquals("kit lock test-kit.edn: the initramfs this guestlab builds from these packages has sha256 "
                + built.initramfsSha256() + ", the lock says " + other + " (the packages match; the lock was written by a "
                + "guestlab that builds the initramfs differently: ./guestlab kit lock writes a new one)", e.getMessage());

        // A cache with the packages but no kit builds it once, not again to be sure.
        Path fresh = dir.resolve("fresh-cache");
        Files.createDirectories(fresh.resolve("debs"));
        for (KitLock.Package p : built.packages()) {
            Files.copy(cache.resolve("debs").resolve(p.debFileName()), fresh.resolve("debs").resolve(p.debFileName()));
        }
        progress.clear();
        assertThrows(IOException.class, () -> DebianKit.locked(fresh, lock, "test-kit.edn", OfflineApt.INSTANCE, progress::add).get());
        assertEquals(1, progress.stream().filter(l -> l.startsWith("building the guest kit")).count(), progress.toString());
    }

    @Test
    void withoutAptTheNewestKitInTheCacheIsUsedWithANote() throws Exception {
        KitLock today = lockToday();
        progress.clear();
        DebianKit kit = new DebianKit(cache, FAILING_APT, progress::add);
        assertEquals(FakeDebs.KVER, kit.get().kernelVersion());
        assertEquals(today, kit.manifest());
        assertEquals(List.of("note: apt could not give today's kit (apt-cache is not available: Cannot run program \"apt-cache\": "
                + "error=2, No such file or directory); using the newest kit in the cache: "
                + "linux-image-6.1.0-99-amd64_6.1.999-1_amd64.deb and busybox-static_1%3a1.35.0-4+b3_amd64.deb"), progress);
        assertTrue(kit.summary().endsWith("; no lock)"), kit.summary());
    }

    @Test
    void withoutAptAndWithAnEmptyCacheAptsErrorStands() {
        var e = assertThrows(IOException.class, () -> new DebianKit(dir.resolve("empty"), FAILING_APT, s -> {}).get());
        assertTrue(e.getMessage().startsWith("apt-cache is not available"), e.getMessage());
    }

    @Test
    void theSamePackagesBuildTheSameBytesInAnotherCache() throws Exception {
        KitLock first = lockToday();
        Path other = dir.resolve("other-cache");
        Files.createDirectories(other.resolve("debs"));
        for (KitLock.Package p : first.packages()) {
            Files.copy(cache.resolve("debs").resolve(p.debFileName()), other.resolve("debs").resolve(p.debFileName()));
        }
        Thread.sleep(1100); // another second on the clock: no timestamp may reach the archive
        KitLock second = new DebianKit(other, NO_APT_TODAY, s -> {}).rebuiltManifest();
        assertEquals(first, second);
        GuestKit verified = DebianKit.locked(other, first, "test-kit.edn", OfflineApt.INSTANCE, s -> {}).get();
        assertEquals(first.initramfsSha256(), DebianKit.sha256(verified.initrd()));
    }

    /** apt that only says which kernel is today's: the packages are in the cache. */
    static final Apt NO_APT_TODAY = new Apt() {
        @Override
        public String dependency(String metapackage, String prefix) {
            return FakeDebs.KERNEL;
        }

        @Override
        public void download(String what, Path into) {
            throw new AssertionError("apt-get download " + what + " asked, but the cache holds it");
        }
    };
}

package guestlab.image;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Guest packages pinned by the system's apt into a lock (the real .debs, in the user's cache), then
 * resolved from the lock alone: the same closure apt gives, for the whole set and for part of it;
 * a package the lock does not pin, a .deb that is not the pinned one, and a root disk holding a
 * pinned package at another version, are refused.
 */
class LockedPackagesTest {
    static final AptFetcher APT = new AptFetcher();
    static KitLock lock;

    @BeforeAll
    static void pinFioAndE2fsprogs() throws IOException {
        List<KitLock.Package> pins = LockedPackages.pin(List.of("fio", "e2fsprogs"), "amd64", RealKit.debs(), APT,
                System.out::println);
        lock = KitLockTest.lock().withGuestPackages(pins);
    }

    private static LockedPackages locked(KitLock l) {
        return new LockedPackages(l, "k.edn", RealKit.debs(), OfflineApt.INSTANCE, line -> fail("fetched: " + line));
    }

    @Test
    void eachPinHasTheSha256OfItsDeb() throws IOException {
        for (KitLock.Package p : lock.guestPackages()) {
            assertEquals(DebianKit.sha256(RealKit.debs().resolve(p.debFileName())), p.sha256(), p.toString());
        }
    }

    @Test
    void theLockGivesTheClosureAptGivesForEachPackageAlone() throws IOException {
        LockedPackages locked = locked(lock);
        for (String p : List.of("e2fsprogs", "fio")) {
            List<DebPackage> closure = locked.closure(List.of(p));
            assertEquals(Set.copyOf(APT.closure(List.of(p), "amd64")), Set.copyOf(closure), p);
            List<DebPackage> inLockOrder = lock.guestPackages().stream().map(KitLock.Package::deb).filter(closure::contains).toList();
            assertEquals(inLockOrder, closure, "in the lock's order, so the same lock builds the same initramfs");
        }
    }

    @Test
    void aPackageTheLockDoesNotPinIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> locked(lock).closure(List.of("e2fsprogs", "iperf3")));
        assertEquals("kit lock k.edn does not pin iperf3: re-run ./guestlab kit lock k.edn --packages e2fsprogs,iperf3 "
                + "(with every package your guests ask for)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> locked(KitLockTest.lock()).closure(List.of("fio")));
        assertEquals("kit lock k.edn does not pin fio (it pins no guest packages): re-run ./guestlab kit lock k.edn "
                + "--packages fio (with every package your guests ask for)", e.getMessage());
    }

    @Test
    void aDebThatIsNotThePinnedOneIsRefused() {
        List<KitLock.Package> pins = new ArrayList<>(lock.guestPackages());
        KitLock.Package libc = pins.stream().filter(p -> p.name().equals("libc6")).findFirst().orElseThrow();
        String wrong = "0".repeat(64);
        pins.set(pins.indexOf(libc), new KitLock.Package(libc.name(), libc.version(), libc.architecture(), wrong));
        var e = assertThrows(IOException.class, () -> locked(lock.withGuestPackages(pins)).closure(List.of("e2fsprogs")));
        Path deb = RealKit.debs().resolve(libc.debFileName());
        assertEquals("kit lock k.edn: " + libc.debFileName() + " has sha256 " + libc.sha256() + ", the lock says " + wrong
                + " (not the package the lock names; delete " + deb + " to download it again)", e.getMessage());
    }

    @Test
    void aRootDiskWithAPinnedPackageAtAnotherVersionIsRefused() {
        KitLock.Package libc = lock.guestPackages().stream().filter(p -> p.name().equals("libc6")).findFirst().orElseThrow();
        Path txt = Path.of("/cache/rootfs/bookworm-amd64-0123/packages.txt");
        LockedPackages locked = locked(lock);
        locked.checkRootDisk(List.of("apt 2.6.2 amd64", "libc6 " + libc.version() + " amd64"), txt);
        var e = assertThrows(IllegalArgumentException.class,
                () -> locked.checkRootDisk(List.of("apt 2.6.2 amd64", "libc6 2.36-9+deb12u99 amd64"), txt));
        assertEquals("kit lock k.edn: the root disk (" + txt + ") has libc6 2.36-9+deb12u99 amd64 where the lock pins "
                + libc.version() + " amd64 (it was built from other versions than the lock pins: give the guest a lock written "
                + "with ./guestlab kit lock --packages ... on the day the disk was built, or boot it without :kit)", e.getMessage());
        var unpinned = assertThrows(IllegalArgumentException.class, () -> locked.requirePinned(List.of("fio", "iperf3")));
        assertEquals("kit lock k.edn does not pin iperf3: re-run ./guestlab kit lock k.edn --packages fio,iperf3 "
                + "(with every package your guests ask for)", unpinned.getMessage());
    }
}

package guestlab.launcher;

import guestlab.image.Apt;
import guestlab.image.AptFetcher;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.image.KitLock;
import guestlab.image.OfflineApt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code ./guestlab kit lock --packages e2fsprogs}, then {@code ./guestlab kit check} on the real
 * Debian packages (the user's cached .debs, in a fresh cache): the lock is written, the kit it
 * names is verified and, from the .debs alone, built again to the same sha256, and a guest's
 * {@code :packages} come from the lock; apt is never asked. Nothing boots.
 */
class KitMainTest {
    @TempDir
    Path dir;

    record Run(int status, String out, String err) {}

    static Run kit(Path cache, Apt apt, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status = KitMain.run(args, cache, apt, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void lockThenCheckVerifiesAndRebuildsTheKitOfflineWithoutBooting() throws Exception {
        Path cache = dir.resolve("cache");
        Path debs = DebianKit.defaultCache().resolve("debs");
        Files.createDirectories(debs);
        Files.createDirectories(cache);
        Files.createSymbolicLink(cache.resolve("debs"), debs);
        Path lockFile = dir.resolve("guestlab-kit.edn");

        Run lock = kit(cache, new AptFetcher(), "lock", lockFile.toString(), "--packages", "e2fsprogs");
        assertEquals(0, lock.status(), lock.err());
        KitLock l = KitLock.read(lockFile);
        KitLock.Package e2fsprogs = l.guestPackages().stream().filter(p -> p.name().equals("e2fsprogs")).findFirst().orElseThrow();
        assertTrue(lock.out().contains("  for :packages:\n"), lock.out());
        assertTrue(lock.out().matches("(?s).*\n  e2fsprogs +" + java.util.regex.Pattern.quote(e2fsprogs.version()) + " +amd64  "
                + e2fsprogs.sha256() + "\n.*"), lock.out());
        assertEquals(e2fsprogs.sha256(), DebianKit.sha256(debs.resolve(e2fsprogs.debFileName())));
        assertTrue(lock.out().contains("wrote " + lockFile + "; a guest spec boots exactly this kit with :kit \"" + lockFile + "\""),
                lock.out());
        assertTrue(lock.out().contains(l.kernelPackage().name() + "  " + l.kernelPackage().version()), lock.out());
        assertTrue(lock.out().contains(l.initramfsSha256()), lock.out());
        assertEquals(l.kernelPackage().sha256(), DebianKit.sha256(debs.resolve(l.kernelPackage().debFileName())));

        Run check = kit(cache, OfflineApt.INSTANCE, "check", lockFile.toString());
        assertEquals(0, check.status(), check.err());
        assertTrue(check.out().startsWith("the guest kit " + lockFile + " names: every sha256 matches, and it is in the cache\n"),
                check.out());
        assertEquals("", check.err(), "nothing fetched or built");

        // A guest's :packages come from the lock, with apt asked nothing (in the user's cache, as a
        // guest would build them there, so a second run finds the initramfs built).
        GuestKit withPackages = DebianKit.locked(DebianKit.defaultCache(), l, lockFile.toString(), OfflineApt.INSTANCE, s -> {})
                .with(List.of(), List.of("e2fsprogs"));
        List<String> contents = Files.readAllLines(withPackages.initrd().resolveSibling("contents.txt"));
        assertEquals(l.guestPackages().stream().map(p -> "package " + p.name() + " " + p.version() + " " + p.architecture()).toList(),
                contents.stream().filter(c -> c.startsWith("package ")).toList());
        var refused = assertThrows(IllegalArgumentException.class,
                () -> DebianKit.locked(DebianKit.defaultCache(), l, lockFile.toString(), OfflineApt.INSTANCE, s -> {})
                        .with(List.of(), List.of("fio")));
        assertEquals("kit lock " + lockFile + " does not pin fio: re-run ./guestlab kit lock " + lockFile + " --packages fio "
                + "(with every package your guests ask for)", refused.getMessage());

        // The same packages build the same kit again from nothing but the .debs.
        try (var s = Files.walk(cache.resolve("kits"))) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        Run again = kit(cache, OfflineApt.INSTANCE, "check", lockFile.toString());
        assertEquals(0, again.status(), again.err());
        assertTrue(again.err().contains("building the guest kit from " + l.kernelPackage().debFileName()), again.err());
    }

    @Test
    void aBrokenLockFailsWithItsReason() throws Exception {
        Path f = dir.resolve("bad.edn");
        Files.writeString(f, "{:kit-format 1}");
        Run r = kit(dir.resolve("cache"), OfflineApt.INSTANCE, "check", f.toString());
        assertEquals(1, r.status());
        assertEquals("guestlab: kit lock " + f + ": the lock has no :initramfs-sha256\n", r.err());
    }

    @Test
    void aWrongVerbGetsTheUsage() {
        for (String[] args : List.of(new String[] {"lock", "a.edn", "b.edn"}, new String[] {"check", "--packages", "fio"},
                new String[] {"lock", "--packages"}, new String[] {"lock", "--packages", "fio,,iperf3"})) {
            Run r = kit(dir.resolve("cache"), OfflineApt.INSTANCE, args);
            assertEquals(2, r.status(), List.of(args).toString());
            assertEquals("guestlab: " + KitMain.USAGE + "\n", r.err());
        }
    }
}

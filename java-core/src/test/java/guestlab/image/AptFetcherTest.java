package guestlab.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The system's apt, asked for real (its package lists, and Debian's archive for a download). */
class AptFetcherTest {
    final AptFetcher apt = new AptFetcher();

    @TempDir
    Path dir;

    private static Set<String> names(List<DebPackage> closure) {
        return closure.stream().map(DebPackage::name).collect(java.util.stream.Collectors.toSet());
    }

    @Test
    void theClosureIsWhatThePackageDependsOnWithoutRecommends() throws IOException {
        List<DebPackage> closure = apt.closure(List.of("e2fsprogs"), "amd64");
        Set<String> names = names(closure);
        for (String p : List.of("e2fsprogs", "libext2fs2", "libcom-err2", "libblkid1", "libuuid1", "libc6", "logsave")) {
            assertTrue(names.contains(p), p + " in " + names);
        }
        assertFalse(names.contains("uuid-runtime"), "e2fsprogs only recommends uuid-runtime: " + names);
        assertFalse(names.contains("e2fsprogs-l10n"), "nor its translations: " + names);
        assertFalse(names.contains("coreutils"), "essential packages nothing depends on are not added: " + names);
        DebPackage e2fsprogs = closure.stream().filter(p -> p.name().equals("e2fsprogs")).findFirst().orElseThrow();
        assertEquals("amd64", e2fsprogs.architecture());
        assertTrue(e2fsprogs.version().matches("[0-9][A-Za-z0-9.+~:-]*"), e2fsprogs.version());
    }

    @Test
    void aMergedUsrRootDoesNotPullUsrmergeAndPerl() throws IOException {
        Set<String> names = names(apt.closure(List.of("iperf3"), "amd64"));
        assertTrue(names.contains("init-system-helpers"), "iperf3 needs it (usrmerge | usr-is-merged): " + names);
        assertTrue(names.contains("usr-is-merged"), names.toString());
        assertFalse(names.contains("usrmerge"), names.toString());
    }

    @Test
    void anUnknownPackageIsRefusedWithTheNamesNearIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> apt.closure(List.of("e2fsprog"), "amd64"));
        assertEquals("Debian package e2fsprog (did you mean e2fsprogs?) is not known to apt (apt-cache search NAME finds "
                + "packages by name)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> apt.closure(List.of("-o", "fio"), "amd64"));
        assertTrue(e.getMessage().startsWith("\"-o\" is not a Debian package name"), e.getMessage());
    }

    @Test
    void aDownloadThatFailsNamesThePackageAndQuotesApt() {
        IOException e = assertThrows(IOException.class,
                () -> apt.downloadAll(List.of(new DebPackage("e2fsprogs", "0.0-0", "amd64")), dir));
        assertEquals("apt-get download failed for e2fsprogs 0.0-0: E: Version '0.0-0' for 'e2fsprogs' was not found", e.getMessage());
    }
}

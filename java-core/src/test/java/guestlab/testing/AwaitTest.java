package guestlab.testing;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** The test tree's own helpers: what they return, and what they say when the awaited never comes. */
class AwaitTest {
    @Test
    void untilReturnsTheFirstValueAccepted() {
        AtomicInteger n = new AtomicInteger();
        assertEquals(3, Await.until("n to reach 3", n::incrementAndGet, v -> v >= 3));
        assertEquals(3, n.get(), "polled no further than needed");
    }

    @Test
    void aTimeoutNamesWhatWasAwaitedAndTheLastValueSeen() {
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> Await.until("the answer", Duration.ofMillis(50), () -> 41, v -> v == 42));
        assertEquals("timed out after 50 ms waiting for the answer; last seen: 41", e.getMessage());
        e = assertThrows(AssertionFailedError.class, () -> Await.until("a miracle", Duration.ofSeconds(0), () -> false, b -> b));
        assertEquals("timed out after 0 s waiting for a miracle; last seen: false", e.getMessage());
    }

    @Test
    void settleReturnsTheLastValueInsteadOfFailing() {
        assertEquals("late", Await.settle(() -> "late", "soon"::equals, Duration.ofMillis(20)));
        assertEquals("soon", Await.settle(() -> "soon", "soon"::equals, Duration.ofMillis(20)));
    }

    @Test
    void qemuTestsSayWhyTheySkipWhereQemuIsMissing(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        assertEquals("qemu-system-x86_64 not found on PATH: install qemu-system-x86",
                RequiresQemu.Check.missingOn(dir + ":" + dir.resolve("nowhere")));
        assertEquals("qemu-system-x86_64 not found on PATH: install qemu-system-x86", RequiresQemu.Check.missingOn(null));
        Path fake = Files.createFile(dir.resolve("qemu-system-x86_64"));
        assertNotNull(RequiresQemu.Check.missingOn(dir.toString()), "a file that cannot be run is not QEMU");
        Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
        assertNull(RequiresQemu.Check.missingOn("/nowhere:" + dir));
    }

    @Test
    void aFootprintSeesWhatWasOpenedAfterItAndNothingBefore() throws Exception {
        try (var before = guestlab.posix.EventFd.create()) {
            Footprint fp = Footprint.take();
            assertEquals(java.util.List.of(), fp.newFds());
            try (var mine = guestlab.posix.EventFd.create()) {
                assertEquals(1, fp.newFdsOf("anon_inode:[eventfd]"), () -> "new: " + fp.newFds());
                assertTrue(fp.newFds().getFirst().startsWith(mine.fd() + " -> "), fp.newFds()::toString);
            }
            assertEquals(java.util.List.of(), fp.newFds());
            Thread t = Thread.ofPlatform().name("guestlab-footprint-test").start(() -> {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertEquals(java.util.List.of("guestlab-footprint-test"), fp.newThreads());
            fp.assertReleased("a thread of 50 ms");
            assertFalse(t.isAlive());
        }
    }
}

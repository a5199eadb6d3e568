package guestlab.launcher;

import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.QemuGuest;
import guestlab.engine.qemu.SerialConsole;
import guestlab.events.EventKind;
import guestlab.testing.RequiresQemu;
import guestlab.virtio.QueueState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Debian's stock kernel in QEMU, its disks and rng served by guestlab over vhost-user. One boot
 * for the class (about 4 s under TCG); each test uses its own region of the disks.
 */
@RequiresQemu
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuGuestTest {
    private static final Duration T = Duration.ofSeconds(120);
    private Path dir;
    private Path disk;
    private Path roDisk;
    private Path oddDisk;
    private Launcher launcher;
    private QemuGuest guest;

    @BeforeAll
    void boot() throws Exception {
        dir = Files.createTempDirectory("qemu-guest-test");
        disk = dir.resolve("disk.img");
        roDisk = dir.resolve("ro.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(128L << 20);
        }
        byte[] ro = new byte[1 << 20];
        Arrays.fill(ro, (byte) 0x5a);
        Files.write(roDisk, ro);
        oddDisk = dir.resolve("odd.img");
        byte[] odd = new byte[1000];
        Arrays.fill(odd, (byte) 0x11);
        Files.write(oddDisk, odd);
        launcher = new Launcher();
        guest = (QemuGuest) launcher.start(new GuestSpec("qemu-test", "qemu", 256L << 20, List.of(
                new DeviceSpec("console", null, Map.of()),
                new DeviceSpec("block", null, Map.of("file", disk.toString())),
                new DeviceSpec("block", null, Map.of("file", roDisk.toString(), "read-only", true)),
                new DeviceSpec("block", null, Map.of("file", oddDisk.toString())),
                new DeviceSpec("rng", null, Map.of()))));
    }

    @AfterAll
    void stop() throws Exception {
        if (launcher != null) launcher.stopAll();
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private SerialConsole.Result run(String cmd) throws Exception {
        SerialConsole.Result r = guest.console().run(cmd, T);
        return r;
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    @Test
    void guestWritesSixtyFourMiBWithODirectAndTheHostSeesTheSameBytes() throws Exception {
        var w = run("dd if=/dev/urandom of=/tmp/r bs=1M count=64 2>/dev/null && dd if=/tmp/r of=/dev/vda bs=1M oflag=direct 2>/dev/null && sync && sha256sum /tmp/r");
        assertEquals(0, w.exitCode(), w.output());
        var m = java.util.regex.Pattern.compile("([0-9a-f]{64})\\s+/tmp/r").matcher(w.output());
        assertTrue(m.find(), w.output());
        String guestSum = m.group(1);
        byte[] image = Files.readAllBytes(disk);
        assertEquals(guestSum, sha256(Arrays.copyOf(image, 64 << 20)), "host sha256 of the image's first 64 MiB");
        run("rm /tmp/r");
    }

    @Test
    void theHostWritesAPatternAndTheGuestReadsIt() throws Exception {
        byte[] pattern = new byte[1 << 20];
        new Random(11).nextBytes(pattern);
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.seek(96L << 20);
            f.write(pattern);
            f.getFD().sync();
        }
        var r = run("dd if=/dev/vda bs=1M skip=96 count=1 iflag=direct 2>/dev/null | sha256sum");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains(sha256(pattern)), r.output());
    }

    @Test
    void aReadOnlyDiskRefusesWritesInTheGuest() throws Exception {
        assertEquals("1", run("cat /sys/block/vdb/ro").output().strip(), "the kernel sees VIRTIO_BLK_F_RO");
        var w = run("dd if=/dev/zero of=/dev/vdb bs=4k count=1 oflag=direct");
        assertNotEquals(0, w.exitCode(), "the write must fail: " + w.output());
        byte[] after = Files.readAllBytes(roDisk);
        byte[] expected = new byte[1 << 20];
        Arrays.fill(expected, (byte) 0x5a);
        assertArrayEquals(expected, after);
        var r = run("dd if=/dev/vdb bs=4k count=1 iflag=direct 2>/dev/null | od -An -tx1 | head -1");
        assertTrue(r.output().contains("5a 5a 5a"), r.output());
    }

    @Test
    void hwrngYieldsBytesFromGuestlabsRng() throws Exception {
        assertEquals("virtio_rng.0", run("cat /sys/class/misc/hw_random/rng_current").output().strip());
        long before = guest.queues("rng0").getFirst().counters().requests();
        // 4 KiB: more than the kernel's hw_random core keeps buffered, so the device must be asked.
        var r = run("dd if=/dev/hwrng bs=512 count=8 2>/dev/null | od -An -tx1 | wc -w");
        assertEquals(0, r.exitCode());
        assertEquals("4096", r.output().strip());
        assertTrue(guest.queues("rng0").getFirst().counters().requests() > before, "the bytes came through guestlab's rng");
    }

    @Test
    void queuesAndEventsShowTheVhostUserRings() throws Exception {
        run("dd if=/dev/vda of=/dev/null bs=4k count=16 iflag=direct");
        QueueState q = guest.queues("block0").getFirst();
        assertTrue(q.counters().completions() > 0);
        assertEquals(q.usedIdx(), q.lastAvail(), "nothing in flight between requests");
        assertFalse(q.broken());
        assertTrue(guest.events().recent().stream().anyMatch(e -> e.kind() == EventKind.LIFECYCLE
                && e.detail().contains("vhost-user front-end connected")));
        assertEquals("qemu", guest.engine());
        assertTrue(guest.memory().limit() >= 256L << 20, "guest RAM is shared with guestlab");
    }

    /** As with QEMU's own virtio-blk on a raw image (checked with qemu-io): 1000 bytes are 2 sectors. */
    @Test
    void anImageOfOddSizeLooksAsItDoesToQemu() throws Exception {
        assertEquals("2", run("cat /sys/block/vdc/size").output().strip());
        var r = run("dd if=/dev/vdc bs=512 skip=1 count=1 iflag=direct 2>/dev/null | od -An -tx1 -v | tail -2");
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("11 11 11 11 11 11 11 11 00 00 00 00 00 00 00 00"), "bytes 999.. then zeros: " + r.output());
        assertEquals(0, run("dd if=/dev/zero of=/dev/vdc bs=512 seek=1 count=1 oflag=direct").exitCode());
        assertEquals(1024, Files.size(oddDisk), "writing the tail sector extends the file, as QEMU does");
    }

    @Test
    void pauseAndResumeGoThroughQmp() throws Exception {
        guest.pause();
        assertEquals(Guest.State.PAUSED, guest.state());
        assertEquals("paused", guest.qemu().qmp().status());
        guest.resume();
        assertEquals(Guest.State.RUNNING, guest.state());
        assertEquals(0, run("true").exitCode());
    }
}

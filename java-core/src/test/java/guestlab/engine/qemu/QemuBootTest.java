package guestlab.engine.qemu;

import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.testing.Await;
import guestlab.testing.Footprint;
import guestlab.testing.RequiresQemu;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real QEMU booting the real Debian kit, once for the whole class (a boot costs about 5 s under
 * TCG). The last test closes it and checks nothing is left behind.
 */
@RequiresQemu
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 90)
class QemuBootTest {
    static final Duration CMD = Duration.ofSeconds(20);
    static GuestKit kit;
    static QemuProcess qemu;
    static long bootMillis;
    /** The sockets and pipes, and the guestlab threads, that this class opened and started from the boot on. */
    static Footprint opened;

    @BeforeAll
    static void boot() throws IOException {
        kit = new DebianKit(DebianKit.defaultCache(), System.out::println).get();
        warmUpUnixSockets();
        opened = Footprint.take(t -> t.startsWith("socket:") || t.startsWith("pipe:"));
        Accelerator accel = Accelerator.choose();
        System.out.println("accelerator: " + accel.reason());
        long t0 = System.nanoTime();
        qemu = QemuProcess.start(QemuCommand.forKit(kit, accel), QemuProcess.DEFAULT_START_TIMEOUT, null);
        qemu.console().expect(GuestKit.INIT_MARKER, Duration.ofSeconds(60));
        bootMillis = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("boot to " + GuestKit.INIT_MARKER + ": " + bootMillis + " ms (" + accel.name() + ")");
    }

    @AfterAll
    static void cleanup() {
        if (qemu != null) qemu.close();
    }

    @Test
    @Order(1)
    void bootsToTheInitMarker() {
        assertTrue(qemu.isAlive());
        assertTrue(bootMillis < 60_000, bootMillis + " ms");
        assertTrue(qemu.console().text().contains("Linux version " + kit.kernelVersion()), "the console saw the kernel's banner");
    }

    @Test
    @Order(2)
    void runReturnsTheKernelVersion() throws IOException {
        SerialConsole.Result r = qemu.console().run("uname -r", CMD);
        assertEquals(0, r.exitCode());
        assertEquals(kit.kernelVersion(), r.output().strip());
    }

    @Test
    @Order(3)
    void runReturnsTheExitCode() throws IOException {
        assertEquals(1, qemu.console().run("false", CMD).exitCode());
        SerialConsole.Result r = qemu.console().run("echo out; (exit 42)", CMD);
        assertEquals(42, r.exitCode());
        assertEquals("out\n", r.output());
        assertEquals(new SerialConsole.Result("", 0), qemu.console().run("true", CMD), "no output is empty output");
        assertEquals(new SerialConsole.Result("no newline", 0), qemu.console().run("printf 'no newline'", CMD));
    }

    @Test
    @Order(4)
    void theKernelLoadedTheVirtioModules() throws IOException {
        SerialConsole.Result r = qemu.console().run("cat /proc/modules", CMD);
        assertEquals(0, r.exitCode());
        for (String m : new String[] {"virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng"}) {
            assertTrue(r.output().lines().anyMatch(l -> l.startsWith(m + " ")), m + " in\n" + r.output());
        }
        assertFalse(qemu.console().text().contains("insmod"), "no insmod failed");
    }

    @Test
    @Order(5)
    void qmpPausesAndResumes() throws IOException {
        QmpClient qmp = qemu.qmp();
        assertEquals("running", qmp.status());
        qmp.stop();
        assertEquals("paused", qmp.status());
        qmp.cont();
        assertEquals("running", qmp.status());
        assertEquals(0, qemu.console().run("true", CMD).exitCode(), "the guest runs again");
        assertTrue(qmp.events().stream().anyMatch(e -> e.name().equals("STOP")), "a STOP event: " + qmp.events());
        assertTrue(qmp.events().stream().anyMatch(e -> e.name().equals("RESUME")), "a RESUME event");
    }

    @Test
    @Order(6)
    void qmpErrorsCarryQmpsClassAndDescription() throws IOException {
        QmpException e = assertThrows(QmpException.class, () -> qemu.qmp().execute("no-such-command", Map.of()));
        assertEquals("CommandNotFound", e.errorClass());
        assertTrue(e.getMessage().contains("no-such-command"), e.getMessage());
        Object name = qemu.qmp().execute("query-name");
        assertInstanceOf(Map.class, name);
    }

    @Test
    @Order(7)
    void expectTimesOutWithTheConsoleTail() throws IOException {
        SerialConsole.ConsoleException e = assertThrows(SerialConsole.ConsoleException.class,
                () -> qemu.console().expect("never printed", Duration.ofMillis(200)));
        assertTrue(e.getMessage().contains("last console lines"), e.getMessage());
        assertFalse(qemu.console().lastLines(20).isEmpty());
    }

    @Test
    @Order(100)
    void closeLeavesNoProcessAndNoFds() throws Exception {
        long pid = qemu.pid();
        assertTrue(opened.newFds().size() >= 3, () -> "while running: QMP, serial and QEMU's output pipe: " + opened.newFds());
        Path run = qemu.command().runDir();
        qemu.close();
        qemu.close(); // idempotent
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU pid " + pid + " is gone");
        assertFalse(Files.exists(Path.of("/proc/" + pid)), "no /proc/" + pid);
        assertFalse(Files.exists(run), "the run directory is removed");
        assertEquals(List.of(), opened.newFds(), "no socket or pipe fd of this QEMU's left open in the JVM");
        Await.until("the console and QMP reader threads to end", opened::newThreads, List::isEmpty);
        qemu = null;
    }

    /**
     * The JDK keeps one socket open for good once the first socket channel is used (its
     * "pre-close" descriptor); open and close a unix socket pair first so the count does not see it.
     */
    static void warmUpUnixSockets() throws IOException {
        Path dir = Files.createTempDirectory("guestlab-fd-");
        Path sock = dir.resolve("s");
        try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(sock));
            try (var client = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(sock));
                 var accepted = server.accept()) {
                assertTrue(client.isConnected() && accepted.isConnected());
            }
        } finally {
            Files.deleteIfExists(sock);
            Files.delete(dir);
        }
    }

}

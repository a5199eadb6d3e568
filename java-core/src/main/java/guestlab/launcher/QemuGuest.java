package guestlab.launcher;

import guestlab.devices.BlockDevice;
import guestlab.devices.RngDevice;
import guestlab.engine.qemu.QemuCommand;
import guestlab.engine.qemu.QemuProcess;
import guestlab.engine.qemu.SerialConsole;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.image.GuestKit;
import guestlab.memory.GuestMemory;
import guestlab.vhostuser.VhostUserBackend;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A real Linux guest: QEMU runs its CPU, and its disks and rng are guestlab's own devices,
 * attached through vhost-user. The console is QEMU's serial port (QEMU has no vhost-user console).
 */
public final class QemuGuest implements Guest {
    private final String name;
    private final EventBus events;
    private final Map<String, VhostUserBackend> backends;
    private final QemuProcess qemu;
    private final Path runDir;
    private volatile State state = State.RUNNING;

    private QemuGuest(String name, EventBus events, Map<String, VhostUserBackend> backends, QemuProcess qemu, Path runDir) {
        this.name = name;
        this.events = events;
        this.backends = backends;
        this.qemu = qemu;
        this.runDir = runDir;
    }

    /** Builds the devices and their back-ends, then starts QEMU on {@code kit}; releases all on failure. */
    static QemuGuest start(GuestSpec spec, GuestKit kit, Duration bootTimeout) throws IOException {
        return start(spec, kit, bootTimeout, null);
    }

    /** @param consoleSink sees the console output as it arrives (null: none) */
    static QemuGuest start(GuestSpec spec, GuestKit kit, Duration bootTimeout, java.util.function.Consumer<String> consoleSink)
            throws IOException {
        EventBus events = new EventBus(4096);
        Path runDir = Files.createTempDirectory("guestlab-" + spec.name() + "-");
        Map<String, VhostUserBackend> backends = new LinkedHashMap<>();
        List<AutoCloseable> built = new ArrayList<>();
        try {
            QemuCommand cmd = QemuCommand.forKit(kit).withMemoryBytes(spec.memoryBytes()).withRunDir(runDir)
                    .withExtraCmdline("quiet"); // kernel chatter would interleave with scripted output
            int n = 0;
            for (DeviceSpec d : SpecCheck.named(spec.devices())) {
                String frontEnd = switch (d.kind()) {
                    case "block" -> "vhost-user-blk-pci";
                    case "rng" -> "vhost-user-rng-pci";
                    case "console" -> null; // the serial port
                    default -> throw new IllegalArgumentException("engine qemu does not offer " + d.kind()
                            + " devices yet (block, rng and the serial console work)");
                };
                if (frontEnd == null) continue;
                VirtioDevice dev = d.kind().equals("block")
                        ? BlockDevice.open(Path.of(d.options().get("file").toString()), Boolean.TRUE.equals(d.options().get("read-only")))
                        : new RngDevice();
                built.add(dev);
                VhostUserBackend b = new VhostUserBackend(spec.name(), d.name(), dev, runDir.resolve(d.name() + ".sock"), events);
                built.addFirst(b);
                backends.put(d.name(), b);
                String chardev = "vu" + n++;
                cmd = cmd.withDevice(List.of("-chardev", "socket,id=" + chardev + ",path=" + b.socket(),
                        "-device", frontEnd + ",chardev=" + chardev));
            }
            publish(events, spec.name(), "starting: engine qemu (" + cmd.accelerator() + "), " + spec.memoryBytes() / (1 << 20)
                    + " MiB, kernel " + kit.kernelVersion() + ", devices " + backends.keySet());
            QemuProcess qemu = QemuProcess.start(cmd, QemuProcess.DEFAULT_START_TIMEOUT, consoleSink);
            QemuGuest g = new QemuGuest(spec.name(), events, backends, qemu, runDir);
            g.watchEngine();
            built.clear();
            built.add(g::stop);
            g.awaitInit(bootTimeout);
            return g;
        } catch (IOException | RuntimeException e) {
            for (AutoCloseable c : built) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            deleteRunDir(runDir);
            throw e;
        }
    }

    /** If QEMU dies under us (killed, crashed, the guest panicked), say so with the last console lines. */
    private void watchEngine() {
        ProcessHandle.of(qemu.pid()).ifPresent(h -> h.onExit().thenRun(() -> {
            if (state != State.RUNNING) return;
            state = State.FAILED;
            publish(events, name, "engine died: QEMU (pid " + qemu.pid() + ") exited; last console lines:\n"
                    + String.join("\n", console().lastLines(10)) + "\nQEMU said: " + qemu.stderrTail(5));
        }));
    }

    private void awaitInit(Duration timeout) throws IOException {
        console().expect(GuestKit.INIT_MARKER, timeout);
        publish(events, name, "booted: init marker seen on the console");
    }

    /** The guest's serial console: expect, sendLine, run. */
    public SerialConsole console() {
        return qemu.console();
    }

    public QemuProcess qemu() {
        return qemu;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String engine() {
        return "qemu";
    }

    @Override
    public State state() {
        return state == State.RUNNING && !qemu.isAlive() ? State.FAILED : state;
    }

    @Override
    public List<String> devices() {
        return List.copyOf(backends.keySet());
    }

    /** vhost-user shows no status byte: a device with running queues is DRIVER_OK, a broken one NEEDS_RESET. */
    @Override
    public int deviceStatus(String device) {
        VhostUserBackend b = backend(device);
        if (b.brokenReason() != null) return DeviceStatus.NEEDS_RESET;
        return b.queues().isEmpty() ? 0 : DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK
                | DeviceStatus.DRIVER_OK;
    }

    @Override
    public List<QueueState> queues() {
        return backends.values().stream().flatMap(b -> b.queues().stream()).toList();
    }

    @Override
    public List<QueueState> queues(String device) {
        return backend(device).queues();
    }

    @Override
    public EventBus events() {
        return events;
    }

    /** The guest RAM QEMU shares with the back-ends (through the first device that has it). */
    @Override
    public GuestMemory memory() {
        return backends.values().stream().map(VhostUserBackend::memory).filter(m -> m != null).findFirst()
                .orElseThrow(() -> new IllegalStateException(name + " shares no memory with guestlab yet (no started vhost-user device)"));
    }

    private VhostUserBackend backend(String device) {
        VhostUserBackend b = backends.get(device);
        if (b == null) throw new IllegalArgumentException("no vhost-user device " + device + "; devices: " + backends.keySet());
        return b;
    }

    @Override
    public synchronized void stop() {
        if (state == State.STOPPED) return;
        state = State.STOPPED;
        RuntimeException failure = null;
        try {
            qemu.close();
        } catch (RuntimeException e) {
            failure = e;
        }
        for (VhostUserBackend b : backends.values()) {
            try {
                b.close();
                b.device().close();
            } catch (RuntimeException e) {
                if (failure == null) failure = e;
            }
        }
        deleteRunDir(runDir);
        publish(events, name, "stopped");
        if (failure != null) throw failure;
    }

    private static void publish(EventBus events, String guest, String what) {
        events.publish(new Event(System.nanoTime(), guest, "", -1, EventKind.LIFECYCLE, -1, -1, -1, what));
    }

    private static void deleteRunDir(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // temporary sockets only
        }
    }
}

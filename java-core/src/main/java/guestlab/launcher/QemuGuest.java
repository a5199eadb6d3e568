package guestlab.launcher;

import guestlab.devices.BlockDevice;
import guestlab.devices.EthernetSwitch;
import guestlab.devices.NetDevice;
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
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * A real Linux guest: QEMU runs its CPU, and its disks, network cards and rng are guestlab's own
 * devices, attached through vhost-user. The console is QEMU's serial port (QEMU has no vhost-user console).
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
        return start(spec, kit, bootTimeout, EthernetSwitch::new, null);
    }

    /**
     * @param switches    the named switches net devices join
     * @param consoleSink sees the console output as it arrives (null: none)
     */
    static QemuGuest start(GuestSpec spec, GuestKit kit, Duration bootTimeout, Function<String, EthernetSwitch> switches,
                           Consumer<String> consoleSink) throws IOException {
        EventBus events = new EventBus(4096);
        Path runDir = Files.createTempDirectory("guestlab-" + spec.name() + "-");
        Map<String, VhostUserBackend> backends = new LinkedHashMap<>();
        List<AutoCloseable> built = new ArrayList<>();
        try {
            QemuCommand cmd = QemuCommand.forKit(kit).withMemoryBytes(spec.memoryBytes()).withRunDir(runDir)
                    .withExtraCmdline("quiet"); // kernel chatter would interleave with scripted output
            int n = 0;
            for (DeviceSpec d : SpecCheck.named(spec.devices())) {
                if (d.kind().equals("console")) continue; // the serial port
                Map<String, Object> o = d.options();
                VirtioDevice dev = switch (d.kind()) {
                    case "block" -> BlockDevice.open(Path.of(o.get("file").toString()), Boolean.TRUE.equals(o.get("read-only")));
                    case "rng" -> new RngDevice();
                    case "net" -> new NetDevice(o.containsKey("mac") ? NetDevice.parseMac(o.get("mac").toString())
                            : NetDevice.randomMac(), switches.apply(o.getOrDefault("switch", "default").toString()));
                    default -> throw new IllegalArgumentException("engine qemu has no " + d.kind() + " device");
                };
                built.add(dev);
                VhostUserBackend b = new VhostUserBackend(spec.name(), d.name(), dev, runDir.resolve(d.name() + ".sock"), events);
                built.addFirst(b);
                backends.put(d.name(), b);
                String id = "vu" + n++;
                List<String> chardev = List.of("-chardev", "socket,id=" + id + ",path=" + b.socket());
                cmd = cmd.withDevice(chardev).withDevice(switch (d.kind()) {
                    case "block" -> List.of("-device", "vhost-user-blk-pci,chardev=" + id);
                    case "rng" -> List.of("-device", "vhost-user-rng-pci,chardev=" + id);
                    // QEMU owns virtio-net's config space, so it is told the MAC. vectors=0 (INTx):
                    // QEMU 7.2 crashes in vhost_net_start setting up MSI-X vector notifiers.
                    default -> List.of("-netdev", "vhost-user,id=n" + id + ",chardev=" + id, "-device",
                            "virtio-net-pci,netdev=n" + id + ",mac=" + NetDevice.formatMac(((NetDevice) dev).mac())
                                    + ",romfile=,vectors=0");
                });
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
            if (state != State.RUNNING && state != State.PAUSED) return;
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
        return (state == State.RUNNING || state == State.PAUSED) && !qemu.isAlive() ? State.FAILED : state;
    }

    /** QMP stop: the vCPUs halt; the devices' threads stay ready. */
    @Override
    public synchronized void pause() {
        lifecycle("stop", State.PAUSED, "paused");
    }

    /** QMP cont. */
    @Override
    public synchronized void resume() {
        lifecycle("cont", State.RUNNING, "resumed");
    }

    private void lifecycle(String qmpCommand, State next, String what) {
        if (state == State.STOPPED || state == State.FAILED) throw new IllegalStateException(name + " is " + state);
        try {
            qemu.qmp().execute(qmpCommand);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("QMP " + qmpCommand + " for " + name + ": " + e.getMessage(), e);
        }
        state = next;
        publish(events, name, what);
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
    public VirtioDevice device(String name) {
        return backend(name).device();
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
        events.publish(Event.note(guest, "", -1, EventKind.LIFECYCLE, what));
    }

    private static void deleteRunDir(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // temporary sockets only
        }
    }
}

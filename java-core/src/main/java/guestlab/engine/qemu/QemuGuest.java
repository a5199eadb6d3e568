package guestlab.engine.qemu;

import guestlab.devices.EthernetSwitch;
import guestlab.devices.NetDevice;
import guestlab.engine.DeviceFactory;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.HotPlug;
import guestlab.engine.Rollback;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.image.ExtendedInitramfs;
import guestlab.image.GuestKit;
import guestlab.image.ImageCopy;
import guestlab.memory.GuestMemory;
import guestlab.vhostuser.VhostUserBackend;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * A real Linux guest: QEMU runs its CPU, and its disks, network cards and rng are guestlab's own
 * devices, attached through vhost-user. The console is QEMU's serial port (QEMU has no vhost-user console).
 * After the spec's devices comes one more disk, the {@link TransferDisk} that {@link #files()}
 * copies files through; it is not one of {@link #devices()}.
 */
public final class QemuGuest implements Guest {
    /**
     * quiet: kernel chatter would interleave with scripted output. cryptomgr.notests: the crypto
     * self-tests that run as algorithms register take over a second under TCG (measured here:
     * init at 2.0-2.2 s instead of 3.4 s), and a lab guest does not need them.
     */
    static final String GUEST_CMDLINE = "quiet cryptomgr.notests";
    /** The kernel command line parameter a root disk's init names the host after. */
    static final String NAME_PARAMETER = "guestlab.name";
    /** How long stop waits for a root disk guest's sync. */
    private static final Duration SYNC_TIME = Duration.ofSeconds(20);
    /** How long plug waits for the guest's driver to start a device, and unplug for the guest to let one go. */
    public static final Duration HOTPLUG_TIMEOUT = Duration.ofSeconds(30);

    /** The serial guestlab's block device answers for an image: its file name, cut at the 20 bytes virtio-blk gives it. */
    private static String serial(Path file) {
        String name = file.getFileName().toString();
        return name.substring(0, Math.min(20, name.length()));
    }

    /** A copy of the disk's file in the run directory, under the same name (so the same serial), deleted with it. */
    private static Path ephemeralCopy(DeviceSpec d, Path runDir) throws IOException {
        Path from = Path.of(d.options().get("file").toString());
        if (!Files.isRegularFile(from)) throw new IOException("block device " + d.name() + ": " + from + " is not a file");
        Path to = runDir.resolve("ephemeral").resolve(d.name()).resolve(from.getFileName());
        ImageCopy.copy(from, to);
        return to;
    }

    private final String name;
    private final EventBus events;
    /** Every device served here, in bus order then plug order; guarded by itself. */
    private final Map<String, VhostUserBackend> backends;
    /** Each device's QEMU id (its chardev's and front-end device's), for QMP. */
    private final Map<String, String> qemuIds;
    /** Which device each hot-plug port holds (null: free); guarded by this. */
    private final String[] ports = new String[QemuCommand.HOTPLUG_PORTS];
    private final DeviceFactory factory;
    private int plugs;
    private final QemuProcess qemu;
    private final TransferDisk transferDisk;
    private final GuestFiles files;
    private final Path runDir;
    /** Whether the guest booted a Debian root disk, whose filesystem is synced before QEMU quits. */
    private final boolean rootDisk;
    private volatile State state = State.RUNNING;

    private QemuGuest(String name, EventBus events, Map<String, VhostUserBackend> backends, Map<String, String> qemuIds,
                      DeviceFactory factory, QemuProcess qemu, TransferDisk transferDisk, Path runDir, boolean rootDisk) {
        this.rootDisk = rootDisk;
        this.qemuIds = new ConcurrentHashMap<>(qemuIds);
        this.factory = factory;
        this.name = name;
        this.events = events;
        this.backends = new LinkedHashMap<>(backends);
        this.qemu = qemu;
        this.transferDisk = transferDisk;
        this.files = new GuestFiles(name, qemu.console(), transferDisk);
        this.runDir = runDir;
    }

    /**
     * Builds the devices and their back-ends, then starts QEMU on {@code kit}; releases all on failure.
     *
     * @param accel       what runs the guest's CPU ({@link Accelerator#choose()})
     * @param switches    the named switches net devices join
     * @param consoleSink sees the console output as it arrives (null: none)
     */
    public static QemuGuest start(GuestSpec spec, GuestKit kit, Accelerator accel, Duration bootTimeout,
                                  Function<String, EthernetSwitch> switches, Consumer<String> consoleSink) throws IOException {
        EventBus events = new EventBus(4096);
        Path runDir = Files.createTempDirectory("guestlab-" + spec.name() + "-");
        try (Rollback rollback = new Rollback()) {
            rollback.add(() -> deleteRunDir(runDir));
            Map<String, VhostUserBackend> backends = new LinkedHashMap<>();
            Map<String, String> qemuIds = new LinkedHashMap<>();
            QemuCommand cmd = QemuCommand.forKit(kit, accel).withMemoryBytes(spec.memoryBytes()).withRunDir(runDir)
                    .withExtraCmdline(GUEST_CMDLINE);
            DeviceFactory factory = new DeviceFactory(spec.name(), events, switches);
            int n = 0;
            String rootSerial = null;
            for (DeviceSpec d : DeviceSpec.withDefaultNames(spec.devices())) {
                if (d.kind().equals("console")) continue; // the serial port
                if (!QemuCommand.VHOST_USER_KINDS.contains(d.kind())) {
                    throw new IllegalArgumentException("engine qemu has no " + d.kind() + " device");
                }
                if (d.options().get(DeviceSpec.VHOST_USER) != null) { // someone else's back-end: QEMU connects to it
                    cmd = cmd.withVhostUserDevice(d.kind(), "vu" + n++, Path.of(d.options().get(DeviceSpec.VHOST_USER).toString()), null);
                    continue;
                }
                if (d.ephemeral()) d = d.with("file", ephemeralCopy(d, runDir).toString());
                if (d.rootDisk()) rootSerial = serial(Path.of(d.options().get("file").toString()));
                VirtioDevice dev = rollback.add(factory.build(d));
                VhostUserBackend b = rollback.add(new VhostUserBackend(spec.name(), d.name(), dev,
                        runDir.resolve(d.name() + ".sock"), events));
                backends.put(d.name(), b);
                // virtio-net's config space starts with the MAC (virtio 1.x section 5.1.4).
                String mac = d.kind().equals("net") ? NetDevice.formatMac(Arrays.copyOf(dev.config(), 6)) : null;
                qemuIds.put(d.name(), "vu" + n);
                cmd = cmd.withVhostUserDevice(d.kind(), "vu" + n++, b.socket(), mac);
            }
            // last, so that the spec's disks keep their names (vda, vdb, ...)
            TransferDisk transferDisk = rollback.add(TransferDisk.create(spec.name(), runDir));
            cmd = cmd.withVhostUserDevice("block", "vu" + TransferDisk.DEVICE, transferDisk.socket(), null);
            if (rootSerial != null) {
                cmd = cmd.withExtraCmdline(GUEST_CMDLINE + " " + ExtendedInitramfs.ROOT_PARAMETER + "=" + rootSerial + " " + NAME_PARAMETER
                        + "=" + spec.name());
            }
            publish(events, spec.name(), "starting: engine qemu (" + cmd.accelerator() + "), " + spec.memoryBytes() / (1 << 20)
                    + " MiB, kernel " + kit.kernelVersion() + ", devices " + backends.keySet());
            QemuProcess qemu = QemuProcess.start(cmd, QemuProcess.DEFAULT_START_TIMEOUT, consoleSink);
            QemuGuest g = new QemuGuest(spec.name(), events, backends, qemuIds, factory, qemu, transferDisk, runDir,
                    rootSerial != null);
            g.watchEngine();
            rollback.keep();
            rollback.add(g::stop); // the guest owns QEMU, the back-ends and the run directory
            g.awaitInit(bootTimeout);
            rollback.keep();
            return g;
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

    /** Copies files into and out of the guest, through its transfer disk. */
    public GuestFiles files() {
        return files;
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
        synchronized (backends) {
            return List.copyOf(backends.keySet());
        }
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
        return served().stream().flatMap(b -> b.queues().stream()).toList();
    }

    @Override
    public List<QueueState> queues(String device) {
        return backend(device).queues();
    }

    @Override
    public int deviceType(String name) {
        return backend(name).device().type();
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
        return served().stream().map(VhostUserBackend::memory).filter(m -> m != null).findFirst()
                .orElseThrow(() -> new IllegalStateException(name + " shares no memory with guestlab yet (no started vhost-user device)"));
    }

    private VhostUserBackend backend(String device) {
        synchronized (backends) {
            VhostUserBackend b = backends.get(device);
            if (b == null) throw new IllegalArgumentException("no vhost-user device " + device + "; devices: " + backends.keySet());
            return b;
        }
    }

    /** The back-ends serving now, in bus order then plug order. */
    private List<VhostUserBackend> served() {
        synchronized (backends) {
            return List.copyOf(backends.values());
        }
    }

    /**
     * Hot-plugs a block, net or rng device into a free PCIe root port: its back-end is started
     * first, then QMP chardev-add (and netdev_add for net) and device_add. Returns the device's
     * name once the guest's driver has started its queues (within {@link #HOTPLUG_TIMEOUT}).
     */
    @Override
    public synchronized String plug(DeviceSpec spec) {
        requireRunning("plug");
        DeviceSpec d = HotPlug.named(name, engine(), spec, devices());
        int port = IntStream.range(0, ports.length).filter(i -> ports[i] == null).findFirst()
                .orElseThrow(() -> new IllegalStateException(name + " has no free hot-plug slot (" + ports.length + ", holding "
                        + String.join(" ", ports) + "); unplug one first"));
        String id = "hp" + plugs++;
        try (Rollback rollback = new Rollback()) {
            VirtioDevice dev = rollback.add(factory.build(d));
            VhostUserBackend b = rollback.add(new VhostUserBackend(name, d.name(), dev, runDir.resolve(d.name() + ".sock"), events));
            QmpClient qmp = qemu.qmp();
            qmp.execute("chardev-add", Map.of("id", id, "backend", Map.of("type", "socket", "data",
                    Map.of("addr", Map.of("type", "unix", "data", Map.of("path", b.socket().toString())), "server", false))));
            rollback.add(() -> quietly(qmp, "chardev-remove", Map.of("id", id)));
            String mac = null;
            if (d.kind().equals("net")) {
                mac = NetDevice.formatMac(Arrays.copyOf(dev.config(), 6));
                qmp.execute("netdev_add", Map.of("type", "vhost-user", "id", QemuCommand.netdevId(id), "chardev", id));
                rollback.add(() -> quietly(qmp, "netdev_del", Map.of("id", QemuCommand.netdevId(id))));
            }
            Map<String, Object> front = new LinkedHashMap<>(QemuCommand.frontEnd(d.kind(), id, mac));
            front.put("bus", QemuCommand.hotplugPort(port));
            qmp.execute("device_add", front);
            synchronized (backends) {
                backends.put(d.name(), b);
            }
            qemuIds.put(d.name(), id);
            ports[port] = d.name();
            rollback.keep();
            publish(events, name, "plugged " + d.name() + " into " + QemuCommand.hotplugPort(port));
            awaitDriver(d.name(), b);
            return d.name();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("plug " + d.name() + " into " + name + ": " + e.getMessage(), e);
        }
    }

    /** Waits until the guest's driver has started the device's queues: it has seen the device. */
    private void awaitDriver(String device, VhostUserBackend b) throws IOException {
        long deadline = System.nanoTime() + HOTPLUG_TIMEOUT.toNanos();
        while (b.queues().isEmpty()) {
            requireRunning("plug");
            if (System.nanoTime() > deadline) {
                throw new IOException("timed out after " + HOTPLUG_TIMEOUT.toSeconds() + " s waiting for guest " + name
                        + "'s driver to start " + device + " (it stays plugged; unplug removes it)");
            }
            LockSupport.parkNanos(20_000_000);
        }
    }

    /**
     * Hot-unplugs a device {@link #plug} added: QMP device_del, then, once the guest has released
     * it (DEVICE_DELETED, within {@link #HOTPLUG_TIMEOUT}), chardev-remove; the back-end stops and
     * the device closes (a disk's image flushed and closed).
     */
    @Override
    public synchronized void unplug(String device) {
        requireRunning("unplug");
        backend(device);
        int port = Arrays.asList(ports).indexOf(device);
        if (port < 0) {
            throw new IllegalArgumentException(device + " of " + name + " was attached at boot, on q35's root bus, which does not hot-unplug;"
                    + " only devices plugged in can be unplugged");
        }
        String id = qemuIds.get(device);
        QmpClient qmp = qemu.qmp();
        CompletableFuture<QmpClient.Event> deleted = qmp.nextEvent("DEVICE_DELETED", data -> id.equals(data.get("device")));
        try {
            qmp.execute("device_del", Map.of("id", id));
            deleted.get(HOTPLUG_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            // a vhost-user netdev removes its chardev with itself
            if (device(device) instanceof NetDevice) qmp.execute("netdev_del", Map.of("id", QemuCommand.netdevId(id)));
            else qmp.execute("chardev-remove", Map.of("id", id));
        } catch (TimeoutException e) {
            throw new java.io.UncheckedIOException(new IOException("timed out after " + HOTPLUG_TIMEOUT.toSeconds() + " s waiting for guest "
                    + name + " to release " + device + " (no DEVICE_DELETED from QEMU; the guest's kernel must accept PCI hot-unplug)"));
        } catch (IOException | ExecutionException e) {
            throw new java.io.UncheckedIOException("unplug " + device + " from " + name + ": " + e.getMessage(), new IOException(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("unplug " + device + " from " + name + " was interrupted", e);
        } finally {
            deleted.cancel(false);
        }
        VhostUserBackend b;
        synchronized (backends) {
            b = backends.remove(device);
        }
        qemuIds.remove(device);
        ports[port] = null;
        b.close();
        b.device().close();
        publish(events, name, "unplugged " + device);
    }

    /** The link of a net device: guestlab's port (frames both ways) and QMP set_link (the guest's carrier). */
    @Override
    public synchronized void setLink(String device, boolean up) {
        requireRunning("set the link of");
        Guest.super.setLink(device, up);
        try {
            qemu.qmp().execute("set_link", Map.of("name", qemuIds.get(device), "up", up));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("set_link " + device + " of " + name + ": " + e.getMessage(), e);
        }
        publish(events, name, "link of " + device + (up ? " up" : " down"));
    }

    private void requireRunning(String what) {
        State s = state();
        if (s != State.RUNNING) throw new IllegalStateException("cannot " + what + " a device of " + name + ": it is " + s.name().toLowerCase());
    }

    /** A QMP command whose failure changes nothing for the caller (undoing a half-done plug). */
    private static void quietly(QmpClient qmp, String command, Map<String, ?> args) {
        try {
            qmp.execute(command, args);
        } catch (IOException ignored) {
            // the plug's own error is what the caller sees
        }
    }

    @Override
    public synchronized void stop() {
        if (state == State.STOPPED) return;
        boolean wasUp = state == State.RUNNING && qemu.isAlive();
        state = State.STOPPED;
        if (rootDisk && wasUp) syncRootDisk();
        RuntimeException failure = null;
        try {
            qemu.close();
        } catch (RuntimeException e) {
            failure = e;
        }
        for (VhostUserBackend b : served()) {
            try {
                b.close();
                b.device().close();
            } catch (RuntimeException e) {
                if (failure == null) failure = e;
            }
        }
        try {
            transferDisk.close();
        } catch (RuntimeException e) {
            if (failure == null) failure = e;
        }
        deleteRunDir(runDir);
        publish(events, name, "stopped");
        if (failure != null) throw failure;
    }

    /**
     * Writes what the guest's root filesystem holds in memory to the disk (sync on its console), so
     * that what it wrote is in the image when QEMU quits; a console that does not answer in time
     * (a command still running there) is noted in the events, and the guest stops anyway.
     */
    private void syncRootDisk() {
        try {
            console().run("sync", SYNC_TIME);
        } catch (IOException e) {
            publish(events, name, "stop: the root disk's sync did not finish (" + e.getMessage().lines().findFirst().orElse("")
                    + "); writes the guest had not synced may be missing from the image");
        }
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

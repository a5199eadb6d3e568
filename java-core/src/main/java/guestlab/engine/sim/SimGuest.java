package guestlab.engine.sim;

import guestlab.devices.BufferConsole;
import guestlab.engine.DeviceFactory;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.HotPlug;
import guestlab.engine.Rollback;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.lguest.DevicePage;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.memory.GuestMemory;
import guestlab.memory.MemfdMemory;
import guestlab.vhostuser.VhostUserFrontend;
import guestlab.virtio.block.BlockSpec;
import guestlab.transport.lguest.LguestBus;
import guestlab.virtio.DeviceType;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A guest whose "kernel" is Java: it finds its devices by walking the lguest device page at
 * pfnlimit * 4096 byte by byte, as lguest_devices_init() did, and drives them with the
 * simulated drivers; disks served by a vhost-user back-end elsewhere it drives as their front-end,
 * and their rings, counters and events are what their drivers see. Its CPU is whichever thread
 * calls a driver. Devices plugged while it runs are appended to the page and found by walking on
 * from where the last walk ended; unplugged ones are let go by their driver first.
 */
public final class SimGuest implements Guest {
    private final String name;
    private final MemfdMemory mem;
    private final SimHypervisor hv;
    private final LguestBus bus;
    private final EventBus events;
    private final DeviceFactory factory;
    private final Map<String, BufferConsole> hostConsoles;
    private final List<DeviceSpec> vhostUserDevices;
    /** How long a simulated driver waits for its device. */
    private final Duration timeout;
    /** Each device's driver, by device name; read on any thread, changed by boot, plug and unplug. */
    private final Map<String, SimDriver> drivers = new ConcurrentHashMap<>();
    /** The devices served outside guestlab, over vhost-user with this guest as the front-end. */
    private final Map<String, VhostUserDriverTransport> remote = new LinkedHashMap<>();
    /** The devices {@link #plug} added and {@link #unplug} has not removed; guarded by this. */
    private final Set<String> plugged = new HashSet<>();
    /** The kernel's page allocator and the device page's address, from boot on. */
    private GuestPages pages;
    private long pageBase;
    /** Where the kernel's last walk of the device page ended (its terminator); guarded by this. */
    private long walkedTo;
    private volatile State state = State.RUNNING;

    /**
     * The guest owns {@code bus} and {@code mem} and releases them at {@link #stop()}.
     *
     * @param factory          what built the guest's devices; it builds those plugged in later
     * @param vhostUserDevices devices some vhost-user back-end serves (block or rng, named, with its socket)
     * @param timeout          how long a simulated driver waits for its device
     */
    public SimGuest(String name, MemfdMemory mem, SimHypervisor hv, LguestBus bus, EventBus events,
                    DeviceFactory factory, List<DeviceSpec> vhostUserDevices, Duration timeout) {
        this.name = name;
        this.mem = mem;
        this.hv = hv;
        this.bus = bus;
        this.events = events;
        this.factory = factory;
        this.hostConsoles = factory.bufferConsoles();
        this.vhostUserDevices = List.copyOf(vhostUserDevices);
        this.timeout = timeout;
    }

    /** Boots the simulated kernel: scan the device page, probe every device (one driver per descriptor). */
    public synchronized void boot() {
        pageBase = hv.init().pfnLimit() * LguestRing.PAGE_SIZE;
        pages = new GuestPages(LguestRing.PAGE_SIZE, pageBase);
        walkedTo = pageBase;
        probeNewDevices();
        for (DeviceSpec d : vhostUserDevices) {
            Path socket = socketOf(d.name());
            VhostUserFrontend frontend;
            try {
                frontend = VhostUserFrontend.connect(socket);
            } catch (IOException x) {
                throw new UncheckedIOException(d.name() + ": " + x.getMessage(), x);
            }
            boolean block = d.kind().equals("block");
            VhostUserDriverTransport t = new VhostUserDriverTransport(frontend, mem, pages, 1, block ? 128 : 4, block ? BlockSpec.CONFIG_SIZE : 0,
                    new DriverSideRings(name, d.name(), events));
            remote.put(d.name(), t);
            SimDriver driver = block ? new SimBlockDriver(d.name(), mem, pages, t, timeout) : new SimRngDriver(d.name(), mem, pages, t, timeout);
            driver.probe();
            drivers.put(d.name(), driver);
        }
        lifecycle("booted: " + (drivers.size() - remote.size()) + " devices found on the lguest bus"
                + (remote.isEmpty() ? "" : ", " + remote.size() + " over vhost-user " + remote.keySet()));
    }

    /**
     * The kernel walks the device page on from where its last walk ended, and binds a driver to
     * each device it finds there and probes it (features, queues, DRIVER_OK): at boot the whole
     * page, after a plug the descriptor appended since. A device of a type no driver knows stays
     * unclaimed, as in a real kernel; a probe that fails leaves that device unclaimed and throws.
     */
    private void probeNewDevices() {
        DevicePage.Walk walk = DevicePage.walk(mem, pageBase, LguestRing.PAGE_SIZE, walkedTo);
        walkedTo = walk.end();
        for (long desc : walk.devices()) {
            String dev = bus.deviceAt(desc).orElse(String.format("dev@0x%x", desc)); // the launcher's name for it
            int type = mem.readU8(desc + LguestDeviceDesc.TYPE_OFFSET);
            SimDriver d = switch (type) {
                case DeviceType.BLOCK -> new SimBlockDriver(dev, mem, pages, new LguestDriverTransport(mem, hv, pages, desc), timeout);
                case DeviceType.CONSOLE -> new SimConsoleDriver(dev, mem, pages, new LguestDriverTransport(mem, hv, pages, desc), timeout);
                case DeviceType.NET -> new SimNetDriver(dev, mem, pages, new LguestDriverTransport(mem, hv, pages, desc), timeout);
                case DeviceType.RNG -> new SimRngDriver(dev, mem, pages, new LguestDriverTransport(mem, hv, pages, desc), timeout);
                default -> null; // no driver: the device stays unclaimed, as in a real kernel
            };
            if (d == null) continue;
            d.probe();
            drivers.put(dev, d);
        }
    }

    /**
     * Hot-plugs a block, net or rng device: the launcher builds it as at boot, appends its
     * descriptor to the device page (where the terminator was) with the next irqs, and the
     * simulated kernel walks the page on from where it last stopped, as a kernel would on a
     * "devices changed" interrupt (lguest had none: the launcher tells the kernel directly), and
     * probes the new device. Returns its name once its driver has set DRIVER_OK.
     */
    @Override
    public synchronized String plug(DeviceSpec spec) {
        requireRunning("plug");
        DeviceSpec d = HotPlug.named(name, engine(), spec, devices());
        long desc;
        try (Rollback rollback = new Rollback()) {
            VirtioDevice dev = rollback.add(factory.build(d));
            desc = bus.plug(d.name(), dev); // a full page or too few irqs: nothing changed, and the device is closed
            rollback.keep();
        } catch (IOException e) {
            throw new UncheckedIOException("plug " + d.name() + " into " + name + ": " + e.getMessage(), e);
        }
        plugged.add(d.name());
        lifecycle(String.format("plugged %s: descriptor at 0x%x in the lguest device page, irqs %s", d.name(), desc,
                bus.irqs(d.name())));
        try {
            probeNewDevices();
        } catch (RuntimeException e) {
            throw new IllegalStateException("plugged " + d.name() + " into " + name + ", but the guest's driver did not start it: "
                    + e.getMessage() + " (it stays plugged; unplug removes it)", e);
        }
        return d.name();
    }

    /**
     * Hot-unplugs a device {@link #plug} added: the guest's driver lets it go first (waiting for a
     * request in progress, then resetting the device), then the launcher stops its queues'
     * threads, closes it (a disk's image flushed and closed: the file holds all the guest wrote)
     * and marks its descriptor removed in the page ({@link LguestDeviceDesc#TYPE_REMOVED}).
     */
    @Override
    public synchronized void unplug(String device) {
        requireRunning("unplug");
        if (!devices().contains(device)) throw new IllegalArgumentException("no device " + device + "; devices: " + devices());
        if (!plugged.contains(device)) {
            throw new IllegalArgumentException(device + " of " + name + " was attached at boot; only devices plugged in can be unplugged");
        }
        long desc = bus.descriptorAddress(device);
        SimDriver driver = drivers.remove(device);
        try {
            if (driver != null) driver.remove();
        } finally {
            plugged.remove(device);
            bus.unplug(device);
        }
        lifecycle(String.format("unplugged %s: its descriptor at 0x%x in the lguest device page is marked removed (type 0x%x)",
                device, desc, LguestDeviceDesc.TYPE_REMOVED));
    }

    private void requireRunning(String what) {
        if (state != State.RUNNING) throw new IllegalStateException("cannot " + what + " a device of " + name + ": it is "
                + state.name().toLowerCase());
    }

    public SimBlockDriver block(String device) {
        return driver(device, SimBlockDriver.class);
    }

    public SimConsoleDriver console(String device) {
        return driver(device, SimConsoleDriver.class);
    }

    public SimNetDriver net(String device) {
        return driver(device, SimNetDriver.class);
    }

    public SimRngDriver rng(String device) {
        return driver(device, SimRngDriver.class);
    }

    /** The host end of a console device whose host is a buffer. */
    public BufferConsole hostConsole(String device) {
        BufferConsole c = hostConsoles.get(device);
        if (c == null) throw new IllegalArgumentException(device + " has no buffer host console; consoles with one: "
                + hostConsoles.keySet());
        return c;
    }

    /** The simulated CPU's hypercall, for experiments that play a misbehaving guest. */
    public void notify(long address) {
        hv.notify(address);
    }

    private <T extends SimDriver> T driver(String device, Class<T> kind) {
        SimDriver d = device == null ? null : drivers.get(device);
        if (!kind.isInstance(d)) {
            throw new IllegalArgumentException("no " + kind.getSimpleName().replace("Sim", "").replace("Driver", "").toLowerCase()
                    + " device " + device + "; devices: " + devices());
        }
        return kind.cast(d);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String engine() {
        return "sim";
    }

    @Override
    public State state() {
        return state;
    }

    @Override
    public List<String> devices() {
        List<String> all = new ArrayList<>(bus.deviceNames());
        all.addAll(remote.keySet());
        return all;
    }

    @Override
    public int deviceStatus(String device) {
        VhostUserDriverTransport t = remote.get(device);
        return t != null ? t.status() : bus.status(device);
    }

    @Override
    public List<QueueState> queues() {
        List<QueueState> all = new ArrayList<>(bus.queues());
        for (VhostUserDriverTransport t : remote.values()) all.addAll(t.observer().states());
        return all;
    }

    /** A device served here shows its queues from the device's side; a remote one, as its driver sees them. */
    @Override
    public List<QueueState> queues(String device) {
        VhostUserDriverTransport t = remote.get(device);
        return t != null ? t.observer().states() : bus.queues(device);
    }

    @Override
    public int queueCount(String device) {
        VhostUserDriverTransport t = remote.get(device);
        return t != null ? t.queueCount() : bus.device(device).queueCount();
    }

    private DeviceSpec remoteSpec(String name) {
        return vhostUserDevices.stream().filter(d -> d.name().equals(name)).findFirst().orElseThrow();
    }

    private Path socketOf(String name) {
        return Path.of(remoteSpec(name).options().get(DeviceSpec.VHOST_USER).toString());
    }

    @Override
    public int deviceType(String name) {
        if (!remote.containsKey(name)) return bus.device(name).type();
        return remoteSpec(name).kind().equals("block") ? DeviceType.BLOCK : DeviceType.RNG;
    }

    @Override
    public VirtioDevice device(String name) {
        if (remote.containsKey(name)) {
            throw new IllegalArgumentException(name + " is served by the vhost-user back-end on " + socketOf(name)
                    + ", not by guestlab");
        }
        return bus.device(name);
    }

    @Override
    public EventBus events() {
        return events;
    }

    @Override
    public GuestMemory memory() {
        return mem;
    }

    /** Freezes the simulated CPU at its next hypercall; the devices keep their state. */
    @Override
    public synchronized void pause() {
        runState(State.PAUSED, "paused");
    }

    @Override
    public synchronized void resume() {
        runState(State.RUNNING, "resumed");
    }

    private void runState(State next, String what) {
        if (state == State.STOPPED) throw new IllegalStateException(name + " is STOPPED");
        if (next == State.PAUSED) hv.pause();
        else hv.resume();
        state = next;
        lifecycle(what);
    }

    @Override
    public synchronized void stop() {
        if (state == State.STOPPED) return;
        state = State.STOPPED;
        hv.resume(); // a CPU waiting at a hypercall goes on, and finds its devices gone
        try {
            remote.values().forEach(VhostUserDriverTransport::close);
            bus.close();
            mem.close();
        } catch (RuntimeException e) {
            mem.abandon(); // a device thread did not stop: it may still be in a call on guest memory
            throw e;
        } finally {
            lifecycle("stopped");
        }
    }

    private void lifecycle(String what) {
        events.publish(Event.note(name, "", -1, EventKind.LIFECYCLE, what));
    }
}

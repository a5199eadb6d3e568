package guestlab.launcher;

import guestlab.devices.BlockDevice;
import guestlab.devices.BufferConsole;
import guestlab.devices.ConsoleDevice;
import guestlab.devices.ConsoleHost;
import guestlab.devices.EthernetSwitch;
import guestlab.devices.NetDevice;
import guestlab.devices.RngDevice;
import guestlab.devices.StreamConsole;
import guestlab.engine.sim.SimGuest;
import guestlab.engine.sim.SimHypervisor;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.image.KitLock;
import guestlab.lguest.DevicePage;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LhReq;
import guestlab.memory.MemfdMemory;
import guestlab.transport.LguestBus;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Turns guest specs into running guests, as lguest's launcher did: map guest RAM with the device
 * page just above it, build the devices, tell the hypervisor (LHREQ_INITIALIZE), and let the
 * guest run. Guests of one launcher share its named switches.
 */
public final class Launcher implements AutoCloseable {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** Generous for TCG, where Debian's kernel reaches init in about 4 s on these machines. */
    public static final Duration BOOT_TIMEOUT = Duration.ofSeconds(90);

    private final Map<String, EthernetSwitch> switches = new ConcurrentHashMap<>();
    private final List<Guest> guests = new CopyOnWriteArrayList<>();
    private final java.util.Set<String> starting = ConcurrentHashMap.newKeySet();
    private volatile boolean acceleratorSaid;
    private final java.util.function.Consumer<String> say = line -> System.err.println("guestlab: " + line);
    private final DebianKit kit = new DebianKit(DebianKit.defaultCache(), say);
    /** The locked kits guests asked for, by lock file and content: each is verified once. */
    private final Map<List<Object>, DebianKit> lockedKits = new ConcurrentHashMap<>();
    /** The kits already named on stderr ("kit: ..."), so each is named once. */
    private final java.util.Set<Object> kitsSaid = ConcurrentHashMap.newKeySet();

    /** The user's own kernel and initrd; the init marker is then the user's business. */
    private GuestKit ownKit(GuestSpec spec) throws IOException {
        for (Path p : List.of(spec.kernel(), spec.initrd())) {
            if (!java.nio.file.Files.isReadable(p)) throw new IOException("cannot read " + p);
        }
        if (kitsSaid.add(List.of(spec.kernel(), spec.initrd()))) {
            say.accept("kit: own kernel " + spec.kernel() + " and initrd " + spec.initrd());
        }
        return new GuestKit(spec.kernel(), spec.initrd(), "own kernel " + spec.kernel().getFileName());
    }

    /**
     * The kit a QEMU guest boots: its own kernel, the kit its lock names (fetched and verified
     * here, before anything boots), or the Debian kit apt offers. Each kit is named once on stderr.
     * {@link #start} uses the same; the lab asks first to say what a guest boots.
     */
    public GuestKit kitFor(GuestSpec spec) throws IOException {
        if (spec.kernel() != null) return ownKit(spec);
        DebianKit k = kit;
        if (spec.kit() != null) {
            KitLock lock = KitLock.read(spec.kit());
            String name = spec.kit().toString();
            k = lockedKits.computeIfAbsent(List.of(name, lock), key -> DebianKit.locked(DebianKit.defaultCache(), lock, name, say));
        }
        GuestKit g = k.get();
        if (kitsSaid.add(k)) say.accept(k.summary());
        return g;
    }

    public EthernetSwitch switchNamed(String name) {
        return switches.computeIfAbsent(name, EthernetSwitch::new);
    }

    /** The guests started here that are still running. */
    public List<Guest> guests() {
        guests.removeIf(g -> g.state() == Guest.State.STOPPED);
        return List.copyOf(guests);
    }

    /** Starts a guest; its name must not be taken by another guest of this launcher that is not stopped. */
    public Guest start(GuestSpec spec) throws IOException {
        SpecCheck.validate(spec);
        // Reserved while it starts too, so two starts of one name at once cannot both succeed.
        if (guests().stream().anyMatch(g -> g.name().equals(spec.name())) || !starting.add(spec.name())) {
            throw new IllegalArgumentException("a guest named " + spec.name() + " is already running");
        }
        try {
            Guest g = startEngine(spec);
            guests.add(g);
            return g;
        } finally {
            starting.remove(spec.name());
        }
    }

    private Guest startEngine(GuestSpec spec) throws IOException {
        return switch (spec.engine()) {
            case "sim" -> {
                List<AutoCloseable> built = new ArrayList<>();
                try {
                    yield startSim(spec, built);
                } catch (IOException | RuntimeException e) {
                    closeAll(built, e);
                    throw e;
                }
            }
            case "qemu" -> {
                if (!acceleratorSaid) { // once per launcher: it does not change while we run
                    System.err.println("guestlab: QEMU guests run with " + guestlab.engine.qemu.Accelerator.choose().reason());
                    acceleratorSaid = true;
                }
                yield QemuGuest.start(spec, kitFor(spec), BOOT_TIMEOUT, this::switchNamed, null);
            }
            default -> throw new IllegalArgumentException("engine " + spec.engine() + " is not available; engines: sim, qemu");
        };
    }

    /**
     * @param built everything made so far, released in order if starting fails; on success it
     *              holds just the guest
     */
    private SimGuest startSim(GuestSpec spec, List<AutoCloseable> built) throws IOException {
        EventBus events = new EventBus(4096);
        // Guest RAM plus one page above it for the lguest device page.
        MemfdMemory mem = MemfdMemory.allocate("guestlab-" + spec.name(), spec.memoryBytes() + LguestRing.PAGE_SIZE,
                "guest " + spec.name() + " is stopped");
        built.add(mem);
        Map<String, VirtioDevice> devices = new LinkedHashMap<>();
        Map<String, BufferConsole> consoles = new LinkedHashMap<>();
        for (DeviceSpec d : SpecCheck.named(spec.devices())) {
            VirtioDevice dev = build(d, consoles);
            built.addFirst(dev);
            devices.put(d.name(), dev);
        }
        long pfnLimit = spec.memoryBytes() / LguestRing.PAGE_SIZE;
        SimHypervisor hv = new SimHypervisor(spec.name(), mem, events);
        hv.write(new LhReq.Initialize(0, pfnLimit, 0).encode()); // as written to /dev/lguest
        DevicePage page = new DevicePage(mem, spec.memoryBytes(), LguestRing.PAGE_SIZE);
        LguestBus bus = new LguestBus(spec.name(), mem, spec.memoryBytes(), page, hv, events, devices);
        built.removeAll(devices.values());
        built.addFirst(bus); // the bus owns the devices now and stops their threads first
        hv.onExit(bus::handleNotify);
        events.publish(Event.note(spec.name(), "", -1, EventKind.LIFECYCLE,
                "starting: engine sim, " + spec.memoryBytes() / (1 << 20) + " MiB, devices " + devices.keySet()));
        SimGuest g = new SimGuest(spec.name(), mem, hv, bus, events, consoles);
        built.clear();
        built.add(g::stop);
        g.boot(DEFAULT_TIMEOUT);
        return g;
    }

    private VirtioDevice build(DeviceSpec d, Map<String, BufferConsole> consoles) throws IOException {
        Map<String, Object> o = d.options();
        return switch (d.kind()) {
            case "block" -> BlockDevice.open(Path.of(o.get("file").toString()), Boolean.TRUE.equals(o.get("read-only")));
            case "net" -> new NetDevice(o.containsKey("mac") ? NetDevice.parseMac(o.get("mac").toString()) : NetDevice.randomMac(),
                    switchNamed(o.getOrDefault("switch", "default").toString()));
            case "rng" -> new RngDevice();
            case "console" -> {
                ConsoleHost host;
                if ("stdio".equals(o.getOrDefault("host", "buffer").toString())) {
                    host = StreamConsole.stdio();
                } else {
                    BufferConsole b = new BufferConsole();
                    consoles.put(d.name(), b);
                    host = b;
                }
                yield new ConsoleDevice(host);
            }
            default -> throw new IllegalArgumentException("unknown device kind " + d.kind());
        };
    }

    /** Stops every guest this launcher started. */
    public void stopAll() {
        RuntimeException first = null;
        for (Guest g : guests) {
            try {
                g.stop();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        guests.clear();
        if (first != null) throw first;
    }

    @Override
    public void close() {
        stopAll();
    }

    private static void closeAll(List<AutoCloseable> things, Exception cause) {
        RuntimeException failure = null;
        for (AutoCloseable c : things) {
            try {
                c.close();
            } catch (Exception e) {
                if (cause != null) cause.addSuppressed(e);
                else if (failure == null) failure = new IllegalStateException("release failed: " + e.getMessage(), e);
            }
        }
        if (failure != null) throw failure;
    }
}

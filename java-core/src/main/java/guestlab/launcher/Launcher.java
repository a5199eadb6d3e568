package guestlab.launcher;

import guestlab.devices.EthernetSwitch;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.Accelerator;
import guestlab.engine.qemu.QemuGuest;
import guestlab.engine.sim.SimEngine;
import guestlab.image.DebianKit;
import guestlab.image.ExtendedInitramfs;
import guestlab.image.GuestKit;
import guestlab.image.KitLock;
import guestlab.image.RootDisk;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Turns guest specs into running guests: checks the spec, picks the engine (sim: the lguest bus in
 * this JVM; qemu: a real kernel under QEMU, its devices served over vhost-user) and the kit a QEMU
 * guest boots, and keeps the guests it started. Guests of one launcher share its named switches
 * and never share a name while running.
 */
public final class Launcher implements AutoCloseable {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** Generous for TCG, where Debian's kernel reaches init in about 4 s on these machines. */
    public static final Duration BOOT_TIMEOUT = Duration.ofSeconds(90);

    private final Map<String, EthernetSwitch> switches = new ConcurrentHashMap<>();
    private final List<Guest> guests = new CopyOnWriteArrayList<>();
    private final java.util.Set<String> starting = ConcurrentHashMap.newKeySet();
    /** Chosen, and said on stderr, at the first QEMU guest: the host does not change while we run. */
    private Accelerator accelerator;
    private final java.util.function.Consumer<String> say = line -> System.err.println("guestlab: " + line);
    private final DebianKit kit = new DebianKit(DebianKit.defaultCache(), say);
    /** Debian root disks, built into the same cache as the kit. */
    private final RootDiskSetup rootDisks = new RootDiskSetup(RootDisk.system(DebianKit.defaultCache(), say), say);
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
     */
    private GuestKit kitFor(GuestSpec spec) throws IOException {
        if (spec.kernel() != null) return ownKit(spec);
        DebianKit k = debianKit(spec);
        GuestKit g = k.get();
        if (kitsSaid.add(k)) say.accept(k.summary());
        boolean rootDisk = RootDiskSetup.hasRootDisk(spec);
        if (!spec.extendsKit() && !rootDisk) return g;
        GuestKit extended = rootDisk ? k.withRootDisk(spec.modules()) : k.with(spec.modules(), spec.packages());
        long need = ExtendedInitramfs.memoryNeeded(extended.initrd());
        if (spec.memoryBytes() < need) {
            long mib = 1 << 20;
            throw new IllegalArgumentException("guest " + spec.name() + ": its initramfs with " + extras(spec) + " is "
                    + java.nio.file.Files.size(extended.initrd()) / mib + " MiB, and the kernel unpacks it into RAM beside itself: "
                    + "the guest needs at least " + (need + mib - 1) / mib + " MiB of memory, not " + spec.memoryBytes() / mib
                    + " (give it :memory \"" + ((need + 64 * mib - 1) / (64 * mib)) * 64 + "M\")");
        }
        if (kitsSaid.add(extended.initrd())) {
            say.accept("initramfs with " + extras(spec) + ": " + extended.initrd() + " ("
                    + java.nio.file.Files.size(extended.initrd()) / (1 << 20) + " MiB)");
        }
        return extended;
    }

    /** The Debian kit a guest boots: the one its lock names, else the one apt offers. */
    private DebianKit debianKit(GuestSpec spec) throws IOException {
        if (spec.kit() == null) return kit;
        KitLock lock = KitLock.read(spec.kit());
        String name = spec.kit().toString();
        return lockedKits.computeIfAbsent(List.of(name, lock), key -> DebianKit.locked(DebianKit.defaultCache(), lock, name, say));
    }

    /** "modules [ext4] and packages [e2fsprogs]"; for a guest with a root disk, "modules [...] to boot its root disk" */
    private static String extras(GuestSpec spec) {
        if (RootDiskSetup.hasRootDisk(spec)) return "modules " + spec.modules() + " and ext4, to boot its root disk";
        String modules = spec.modules().isEmpty() ? "" : "modules " + spec.modules();
        String packages = spec.packages().isEmpty() ? "" : "packages " + spec.packages();
        return modules.isEmpty() ? packages : packages.isEmpty() ? modules : modules + " and " + packages;
    }

    public EthernetSwitch switchNamed(String name) {
        return switches.computeIfAbsent(name, EthernetSwitch::new);
    }

    /** The guests started here that are still running. */
    public List<Guest> guests() {
        guests.removeIf(g -> g.state() == Guest.State.STOPPED);
        return List.copyOf(guests);
    }

    /** Starts a guest, silently; see {@link #start(GuestSpec, StartProgress)}. */
    public Guest start(GuestSpec spec) throws IOException {
        return start(spec, StartProgress.SILENT);
    }

    /**
     * Starts a guest. Its name must not be taken by another guest of this launcher that is not
     * stopped (running, failed, or starting right now).
     *
     * @throws GuestNameTakenException the name is taken, and by what
     */
    public Guest start(GuestSpec spec, StartProgress progress) throws IOException {
        SpecCheck.validate(spec);
        claim(spec.name());
        boolean started = false;
        try {
            Guest g = startEngine(spec, progress);
            synchronized (starting) {
                guests.add(g);
                starting.remove(spec.name());
            }
            started = true;
            return g;
        } finally {
            if (!started) {
                synchronized (starting) {
                    starting.remove(spec.name());
                }
            }
        }
    }

    /** Reserves {@code name} while its guest starts, so two starts of one name cannot both succeed. */
    private void claim(String name) {
        synchronized (starting) {
            Guest holder = guests().stream().filter(g -> g.name().equals(name)).findFirst().orElse(null);
            if (holder != null) {
                throw new GuestNameTakenException(name, holder.state() == Guest.State.FAILED
                        ? GuestNameTakenException.Holder.FAILED : GuestNameTakenException.Holder.RUNNING);
            }
            if (!starting.add(name)) throw new GuestNameTakenException(name, GuestNameTakenException.Holder.STARTING);
        }
    }

    private synchronized Accelerator accelerator() {
        if (accelerator == null) {
            accelerator = Accelerator.choose();
            System.err.println("guestlab: QEMU guests run with " + accelerator.reason());
        }
        return accelerator;
    }

    private Guest startEngine(GuestSpec spec, StartProgress progress) throws IOException {
        return switch (spec.engine()) {
            case "sim" -> SimEngine.start(spec, this::switchNamed, DEFAULT_TIMEOUT);
            case "qemu" -> {
                Accelerator accel = accelerator();
                GuestKit kit = kitFor(spec);
                GuestSpec booted = RootDiskSetup.hasRootDisk(spec) ? rootDisks.resolve(spec, debianKit(spec)) : spec;
                progress.booting(booted.name(), booted.kernel() != null ? kit.kernelVersion() : "Debian " + kit.kernelVersion(),
                        accel.name().toUpperCase(java.util.Locale.ROOT));
                long t0 = System.nanoTime();
                Guest g = QemuGuest.start(booted, kit, accel, BOOT_TIMEOUT, this::switchNamed, null);
                progress.up(spec.name(), Duration.ofNanos(System.nanoTime() - t0));
                yield g;
            }
            default -> throw new IllegalArgumentException("engine " + spec.engine() + " is not available; engines: sim, qemu");
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
}

package guestlab.bench;

import guestlab.engine.sim.SimGuest;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Whole round trips through a simulated guest on the lguest bus: the driver adds a chain and
 * kicks (LHCALL_NOTIFY into the queue's eventfd), the device thread wakes, serves it, pushes it
 * and interrupts (LHREQ_IRQ), and the driver collects it. Two threads and an eventfd per trip.
 */
@State(Scope.Benchmark)
public class SimRoundTripBench {
    private Launcher launcher;
    private SimGuest guest;
    private Path image;

    @Setup(Level.Trial)
    public void boot() throws Exception {
        image = Files.createTempFile("bench", ".img");
        Files.write(image, new byte[1 << 20]);
        launcher = new Launcher();
        guest = (SimGuest) launcher.start(new GuestSpec("bench", "sim", 16 << 20, List.of(
                new DeviceSpec("rng", null, Map.of()),
                new DeviceSpec("block", null, Map.of("file", image.toString())))));
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        launcher.stopAll();
        Files.deleteIfExists(image);
    }

    /** 64 random bytes: the smallest useful request, so this is mostly the ring and the wake-ups. */
    @Benchmark
    public byte[] rng64() {
        return guest.rng("rng0").read(64);
    }

    /** One 4 KiB read from the disk image (page cache) through virtio-blk. */
    @Benchmark
    public byte[] blockRead4k() {
        return guest.block("block0").read(8, 4096);
    }
}

package guestlab.bench;

import guestlab.engine.qemu.QemuCommand;
import guestlab.engine.qemu.QemuProcess;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Wall time from launch to the init marker, taking turns: guestlab (QEMU with a disk and an rng
 * served by guestlab over vhost-user, launched through the launcher) against plain QEMU with its
 * own virtio-blk and virtio-rng, same kernel and initramfs. Usage: BootBench [rounds] (bench/boot.sh)
 */
public final class BootBench {
    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        GuestKit kit = new DebianKit(DebianKit.defaultCache(), s -> System.err.println("bench: " + s)).get();
        Path dir = Files.createTempDirectory("guestlab-bootbench-");
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        List<Double> guestlab = new ArrayList<>(), plain = new ArrayList<>();
        try (Launcher launcher = new Launcher()) {
            for (int round = 1; round <= rounds; round++) {
                long t0 = System.nanoTime();
                var g = launcher.start(new GuestSpec("boot", "qemu", 512L << 20, List.of(
                        new DeviceSpec("block", null, Map.of("file", image.toString())),
                        new DeviceSpec("rng", null, Map.of())))); // returns at the init marker
                guestlab.add((System.nanoTime() - t0) / 1e9);
                g.stop();

                t0 = System.nanoTime();
                QemuCommand cmd = QemuCommand.forKit(kit).withExtraCmdline("quiet")
                        .withDevice(List.of("-drive", "file=" + image + ",format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0"))
                        .withDevice(List.of("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0"));
                try (QemuProcess q = QemuProcess.start(cmd, QemuProcess.DEFAULT_START_TIMEOUT, null)) {
                    q.console().expect(GuestKit.INIT_MARKER, Duration.ofSeconds(120));
                    plain.add((System.nanoTime() - t0) / 1e9);
                }
                System.err.printf("bench: round %d guestlab %.2f s, plain QEMU %.2f s (to the init marker)%n",
                        round, guestlab.getLast(), plain.getLast());
            }
        }
        double g = BlockBench.median(guestlab), p = BlockBench.median(plain);
        System.out.printf("%nBoot to init marker, medians of %d rounds (Debian %s): guestlab %.2f s, plain QEMU %.2f s, ratio %.2f%n",
                rounds, kit.kernelVersion(), g, p, g / p);
        Files.deleteIfExists(image);
        Files.deleteIfExists(dir);
        System.exit(0);
    }
}

package guestlab.bench;

import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.QemuCommand;
import guestlab.engine.qemu.QemuProcess;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.launcher.Launcher;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Wall time from starting a guest to its init marker, three ways taking turns (the order rotates
 * by round), same kernel, initramfs, disk and rng:
 * <ul>
 *   <li>guestlab as it boots now: the kit's uncompressed kernel through its PVH entry point;</li>
 *   <li>guestlab with the same kernel as the compressed bzImage (vmlinuz), today's command line;</li>
 *   <li>plain QEMU with its own virtio-blk and virtio-rng, the bzImage and {@code quiet}: how
 *       guestlab booted before (it measured level with plain QEMU, ratio 1.00).</li>
 * </ul>
 * Both guestlab ways go through the launcher, as {@code g/start!} does, with the disk and the rng
 * served over vhost-user. Usage: BootBench [rounds] (bench/boot.sh; 5 unless told)
 */
public final class BootBench {
    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        DebianKit debian = new DebianKit(DebianKit.defaultCache(), s -> System.err.println("bench: " + s));
        GuestKit kit = debian.get();
        Path bzImage = debian.directory().resolve("vmlinuz");
        Path dir = Files.createTempDirectory("guestlab-bootbench-");
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        List<DeviceSpec> devices = List.of(new DeviceSpec("block", null, Map.of("file", image.toString())),
                new DeviceSpec("rng", null, Map.of()));
        List<String> modes = List.of("guestlab (PVH vmlinux)", "guestlab (bzImage)", "plain QEMU (bzImage)");
        Map<String, List<Double>> seconds = new LinkedHashMap<>();
        try (Launcher launcher = new Launcher()) {
            for (int round = 1; round <= rounds; round++) {
                StringBuilder line = new StringBuilder("bench: round " + round);
                for (int turn = 0; turn < modes.size(); turn++) {
                    String mode = modes.get((round - 1 + turn) % modes.size());
                    long t0 = System.nanoTime();
                    switch (turn(mode)) {
                        case 0 -> launcher.start(new GuestSpec("boot", "qemu", 256L << 20, devices)).stop();
                        // A kernel given by path boots as given: here the bzImage the kit unpacked from.
                        case 1 -> launcher.start(new GuestSpec("boot", "qemu", 256L << 20, devices, bzImage, kit.initrd())).stop();
                        default -> plainQemu(kit, bzImage, image);
                    }
                    double s = (System.nanoTime() - t0) / 1e9;
                    seconds.computeIfAbsent(mode, m -> new ArrayList<>()).add(s);
                    line.append(String.format(", %s %.2f s", mode, s));
                }
                System.err.println(line);
            }
        }
        System.out.printf("%nStart to init marker, medians of %d rounds (Debian %s, QEMU TCG unless KVM is usable):%n",
                rounds, kit.kernelVersion());
        for (String mode : modes) System.out.printf("  %-24s %6.2f s%n", mode, BlockBench.median(seconds.get(mode)));
        double pvh = BlockBench.median(seconds.get(modes.get(0))), bz = BlockBench.median(seconds.get(modes.get(1))),
                before = BlockBench.median(seconds.get(modes.get(2)));
        System.out.printf("  guestlab PVH / guestlab bzImage: %.2f; guestlab PVH / the boot before (plain QEMU, bzImage, quiet): %.2f%n",
                pvh / bz, pvh / before);
        Files.deleteIfExists(image);
        Files.deleteIfExists(dir);
        System.exit(0);
    }

    private static int turn(String mode) {
        return mode.contains("PVH") ? 0 : mode.startsWith("guestlab") ? 1 : 2;
    }

    /** QEMU with its own devices, until the init marker: the wall time a user of QEMU alone waits. */
    private static void plainQemu(GuestKit kit, Path bzImage, Path image) throws Exception {
        QemuCommand cmd = QemuCommand.forKit(new GuestKit(bzImage, kit.initrd(), kit.kernelVersion()))
                .withMemoryBytes(256L << 20).withExtraCmdline("quiet")
                .withDevice(List.of("-drive", "file=" + image + ",format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0"))
                .withDevice(List.of("-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0"));
        try (QemuProcess q = QemuProcess.start(cmd, QemuProcess.DEFAULT_START_TIMEOUT, null)) {
            q.console().expect(GuestKit.INIT_MARKER, Duration.ofSeconds(120));
        }
    }
}

package guestlab.bench;

import guestlab.devices.BlockDevice;
import guestlab.engine.qemu.QemuCommand;
import guestlab.engine.qemu.QemuProcess;
import guestlab.engine.qemu.SerialConsole;
import guestlab.events.EventBus;
import guestlab.image.DebianKit;
import guestlab.image.GuestKit;
import guestlab.vhostuser.VhostUserBackend;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Guest disk throughput, side by side on the same kernel, initramfs and image, the three
 * back-ends taking turns: guestlab's vhost-user-blk, qemu-storage-daemon's vhost-user-blk
 * export, and QEMU's built-in virtio-blk-pci. Inside the guest: sequential 1 MiB writes and reads
 * with O_DIRECT, and 4 KiB random reads with O_DIRECT, timed from /proc/uptime. Every run starts
 * with the image out of the host's page cache, and the order of the back-ends rotates from round
 * to round: otherwise whoever runs after QEMU's built-in device (cache=none, which leaves nothing
 * cached) writes into a cold cache and whoever follows it into a warm one. One unmeasured
 * guestlab run comes first, so that the JVM has compiled the device path before it is timed, as
 * a launcher that serves a guest for its lifetime has (the C back-ends need no warm-up).
 * Usage: BlockBench [rounds]  (bench/block.sh; 7 rounds unless told)
 */
public final class BlockBench {
    private static final Duration T = Duration.ofMinutes(5);
    private static final int SEQ_MIB = 1024;
    private static final int RANDOM_READS = 300;

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        GuestKit kit = new DebianKit(DebianKit.defaultCache(), s -> System.err.println("bench: " + s)).get();
        Path dir = Files.createTempDirectory("guestlab-bench-");
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(1280L << 20);
        }
        List<String> modes = List.of("guestlab", "qemu-storage-daemon", "qemu-builtin");
        Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
        System.err.printf("bench: warm-up guestlab (not counted) %s%n", runOnce("guestlab", kit, image, dir));
        for (int round = 1; round <= rounds; round++) {
            for (int turn = 0; turn < modes.size(); turn++) {
                String mode = modes.get((round - 1 + turn) % modes.size());
                Map<String, Double> r = runOnce(mode, kit, image, dir);
                System.err.printf("bench: round %d %-20s %s%n", round, mode, r);
                r.forEach((k, v) -> results.computeIfAbsent(mode, m -> new LinkedHashMap<>())
                        .computeIfAbsent(k, x -> new ArrayList<>()).add(v));
            }
        }
        System.out.printf("%nGuest disk, medians of %d rounds (Debian %s, QEMU TCG unless KVM is usable)%n", rounds, kit.kernelVersion());
        System.out.printf("%-22s %14s %14s %14s%n", "back-end", "seq write MB/s", "seq read MB/s", "rand 4k IOPS");
        for (String mode : modes) {
            Map<String, List<Double>> m = results.get(mode);
            System.out.printf("%-22s %14.1f %14.1f %14.1f%n", mode, median(m.get("write")), median(m.get("read")), median(m.get("rand")));
        }
        Map<String, List<Double>> g = results.get("guestlab");
        ratios(g, results.get("qemu-storage-daemon"), "qemu-storage-daemon");
        ratios(g, results.get("qemu-builtin"), "qemu-builtin");
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
        }
        Files.deleteIfExists(dir);
        System.exit(0);
    }

    private static Map<String, Double> runOnce(String mode, GuestKit kit, Path image, Path dir) throws Exception {
        dropFromPageCache(image);
        Path sock = dir.resolve("blk.sock");
        QemuCommand cmd = QemuCommand.forKit(kit).withMemoryBytes(512L << 20).withExtraCmdline("quiet");
        VhostUserBackend backend = null;
        BlockDevice device = null;
        Process qsd = null;
        switch (mode) {
            case "guestlab" -> {
                device = BlockDevice.open(image, false);
                backend = new VhostUserBackend("bench", "block0", device, sock, new EventBus(16));
                cmd = cmd.withDevice(vhostUserBlk(sock));
            }
            case "qemu-storage-daemon" -> {
                qsd = BackEndProcess.qemuStorageDaemon(image, sock, 1, "threads", dir.resolve("qsd.log"));
                cmd = cmd.withDevice(vhostUserBlk(sock));
            }
            default -> cmd = cmd.withDevice(List.of("-drive", "file=" + image + ",format=raw,if=none,id=d0,cache=none",
                    "-device", "virtio-blk-pci,drive=d0"));
        }
        try (QemuProcess q = QemuProcess.start(cmd, QemuProcess.DEFAULT_START_TIMEOUT, null)) {
            SerialConsole c = q.console();
            c.expect(GuestKit.INIT_MARKER, Duration.ofSeconds(120));
            Map<String, Double> out = new LinkedHashMap<>();
            out.put("write", SEQ_MIB / timed(c, "dd if=/dev/zero of=/dev/vda bs=1M count=" + SEQ_MIB + " oflag=direct 2>/dev/null") * 1.048576);
            out.put("read", SEQ_MIB / timed(c, "dd if=/dev/vda of=/dev/null bs=1M count=" + SEQ_MIB + " iflag=direct 2>/dev/null") * 1.048576);
            out.put("rand", RANDOM_READS / timed(c, "i=0; while [ $i -lt " + RANDOM_READS + " ]; do "
                    + "dd if=/dev/vda of=/dev/null bs=4k count=1 skip=$(( (RANDOM * 32768 + RANDOM) % 131072 )) iflag=direct 2>/dev/null; "
                    + "i=$((i+1)); done"));
            return out;
        } finally {
            if (backend != null) backend.close();
            if (device != null) device.close();
            if (qsd != null) {
                qsd.destroy();
                qsd.waitFor();
            }
        }
    }

    /** Writes the image's dirty pages back and drops it from the page cache (coreutils dd's fadvise idiom). */
    private static void dropFromPageCache(Path image) throws Exception {
        Process dd = new ProcessBuilder("dd", "of=" + image, "oflag=nocache", "conv=notrunc,fdatasync", "count=0")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (dd.waitFor() != 0) throw new IllegalStateException("dd could not drop " + image + " from the page cache");
    }

    /** Seconds the guest spent on {@code command}, from its /proc/uptime. */
    private static double timed(SerialConsole c, String command) throws Exception {
        SerialConsole.Result r = c.run("a=$(cut -d' ' -f1 /proc/uptime); " + command
                + "; b=$(cut -d' ' -f1 /proc/uptime); echo \"T $a $b\"", T);
        for (String line : r.output().split("\n")) {
            if (line.startsWith("T ")) {
                String[] p = line.trim().split(" ");
                return Double.parseDouble(p[2]) - Double.parseDouble(p[1]);
            }
        }
        throw new IllegalStateException("no timing in guest output: " + r.output());
    }

    private static List<String> vhostUserBlk(Path sock) {
        return List.of("-chardev", "socket,id=vu0,path=" + sock, "-device", "vhost-user-blk-pci,chardev=vu0,num-queues=1");
    }

    /**
     * guestlab over a peer two ways: the ratio of the medians, and the median of the rounds' own
     * ratios. The second pairs runs a minute apart, so it holds when the machine's speed drifts
     * during the bench, as this shared machine's does.
     */
    private static void ratios(Map<String, List<Double>> g, Map<String, List<Double>> peer, String name) {
        System.out.printf("%nguestlab / %s:%n", name);
        for (String k : List.of("write", "read", "rand")) {
            List<Double> a = g.get(k), b = peer.get(k), paired = new ArrayList<>();
            StringBuilder rounds = new StringBuilder();
            for (int i = 0; i < a.size(); i++) {
                paired.add(a.get(i) / b.get(i));
                rounds.append(String.format(" %.2f", paired.getLast()));
            }
            System.out.printf("  %-6s ratio of medians %.2f, median of round ratios %.2f (rounds:%s)%n",
                    k, median(a) / median(b), median(paired), rounds);
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}

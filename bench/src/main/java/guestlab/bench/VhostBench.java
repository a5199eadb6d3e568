package guestlab.bench;

import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.engine.sim.SimBlockDriver;
import guestlab.engine.sim.SimGuest;
import guestlab.launcher.Launcher;
import guestlab.memory.MemfdMemory;
import guestlab.posix.IoVector;
import guestlab.posix.PosixFile;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The block device itself, without an emulated CPU: one front-end (a sim guest's block driver,
 * over vhost-user) drives guestlab's back-end and qemu-storage-daemon's vhost-user-blk export on
 * the same warm image, taking turns, each back-end a process of its own. Per round and back-end:
 * 4 KiB random reads and writes at queue depth 1 (IOPS, p50 and p99 latency), sequential 64 KiB
 * reads and writes (MB/s; the driver's largest request), and the back-end's CPU time per I/O
 * (from /proc). The limit beside them: the same 4 KiB random reads issued directly on the image
 * with preadv from this process, no virtio in between.
 * Usage: VhostBench [rounds]  (bench/vhost.sh; 5 unless told)
 */
public final class VhostBench {
    private static final long IMAGE_BYTES = 256L << 20;
    private static final int RANDOM_OPS = 5000;
    private static final int SEQ_BYTES = 64 << 20;
    private static final int CHUNK = 64 << 10;

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path dir = Files.createTempDirectory("guestlab-vhostbench-");
        Path image = dir.resolve("disk.img");
        byte[] fill = new byte[1 << 20];
        new Random(1).nextBytes(fill);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            for (long at = 0; at < IMAGE_BYTES; at += fill.length) f.write(fill); // real blocks, then warm in the page cache
        }
        List<String> modes = List.of("guestlab", "qemu-storage-daemon");
        Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
        try (Launcher launcher = new Launcher()) {
            System.err.printf("bench: warm-up (not counted) %s%n", runOnce(launcher, "guestlab", image, dir));
            for (int round = 1; round <= rounds; round++) {
                for (int turn = 0; turn < modes.size(); turn++) {
                    String mode = modes.get((round - 1 + turn) % modes.size());
                    Map<String, Double> r = runOnce(launcher, mode, image, dir);
                    System.err.printf("bench: round %d %-20s %s%n", round, mode, r);
                    r.forEach((k, v) -> results.computeIfAbsent(mode, m -> new LinkedHashMap<>())
                            .computeIfAbsent(k, x -> new ArrayList<>()).add(v));
                }
                results.computeIfAbsent("direct preadv", m -> new LinkedHashMap<>())
                        .computeIfAbsent("rand-read IOPS", x -> new ArrayList<>()).add(directReads(image));
            }
        }
        System.out.printf("%nvhost-user block back-ends driven by one front-end, medians of %d rounds (4 KiB at queue depth 1;"
                + " sequential in 64 KiB requests; image %d MiB, warm)%n", rounds, IMAGE_BYTES >> 20);
        List<String> figures = List.of("rand-read IOPS", "rand-read p50 us", "rand-read p99 us", "rand-write IOPS",
                "rand-write p50 us", "rand-write p99 us", "seq-read MB/s", "seq-write MB/s", "backend CPU us/IO");
        System.out.printf("%-22s", "back-end");
        for (String f : figures) System.out.printf(" %17s", f);
        System.out.println();
        for (String mode : results.keySet()) {
            System.out.printf("%-22s", mode);
            for (String f : figures) {
                List<Double> v = results.get(mode).get(f);
                System.out.printf(" %17s", v == null ? "-" : String.format("%.1f", BlockBench.median(v)));
            }
            System.out.println();
        }
        System.out.printf("%nguestlab / qemu-storage-daemon (ratio of medians; for latencies and CPU lower is better):%n");
        for (String f : figures) {
            double g = BlockBench.median(results.get("guestlab").get(f)), q = BlockBench.median(results.get("qemu-storage-daemon").get(f));
            System.out.printf("  %-18s %.2f%n", f, g / q);
        }
        System.out.printf("guestlab random reads / the direct preadv limit: %.2f%n",
                BlockBench.median(results.get("guestlab").get("rand-read IOPS"))
                        / BlockBench.median(results.get("direct preadv").get("rand-read IOPS")));
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
        }
        Files.deleteIfExists(dir);
        System.exit(0);
    }

    private static Map<String, Double> runOnce(Launcher launcher, String mode, Path image, Path dir) throws Exception {
        Path sock = dir.resolve("blk.sock");
        Process backend = mode.equals("guestlab") ? BackEndProcess.guestlab(image, sock, dir.resolve(mode + ".log"))
                : BackEndProcess.qemuStorageDaemon(image, sock, dir.resolve(mode + ".log"));
        try {
            if (!Files.exists(sock)) throw new IllegalStateException(mode + " did not listen on " + sock + ": see " + dir.resolve(mode + ".log"));
            SimGuest g = (SimGuest) launcher.start(new GuestSpec("vhostbench", "sim", 96L << 20, List.of(
                    new DeviceSpec("block", "disk", Map.of(DeviceSpec.VHOST_USER, sock.toString())))));
            try {
                SimBlockDriver disk = g.block("disk");
                Map<String, Double> r = new LinkedHashMap<>();
                long sectors = IMAGE_BYTES / 512;
                Random rnd = new Random(7);
                long cpu0 = cpuNanos(backend.pid());
                int ios = 0;
                long[] lat = new long[RANDOM_OPS];
                long t0 = System.nanoTime();
                for (int i = 0; i < RANDOM_OPS; i++) {
                    long s = System.nanoTime();
                    disk.read(rnd.nextLong(sectors / 8) * 8, 4096);
                    lat[i] = System.nanoTime() - s;
                }
                latency(r, "rand-read", lat, System.nanoTime() - t0);
                byte[] block = new byte[4096];
                t0 = System.nanoTime();
                for (int i = 0; i < RANDOM_OPS; i++) {
                    long s = System.nanoTime();
                    disk.write(rnd.nextLong(sectors / 8) * 8, block);
                    lat[i] = System.nanoTime() - s;
                }
                latency(r, "rand-write", lat, System.nanoTime() - t0);
                ios += 2 * RANDOM_OPS;
                t0 = System.nanoTime();
                for (long at = 0; at < SEQ_BYTES; at += CHUNK) disk.read(at / 512, CHUNK);
                r.put("seq-read MB/s", SEQ_BYTES / 1e6 / ((System.nanoTime() - t0) / 1e9));
                byte[] chunk = new byte[CHUNK];
                t0 = System.nanoTime();
                for (long at = 0; at < SEQ_BYTES; at += CHUNK) disk.write(at / 512, chunk);
                disk.flush();
                r.put("seq-write MB/s", SEQ_BYTES / 1e6 / ((System.nanoTime() - t0) / 1e9));
                ios += 2 * (SEQ_BYTES / CHUNK) + 1;
                r.put("backend CPU us/IO", (cpuNanos(backend.pid()) - cpu0) / 1e3 / ios);
                return r;
            } finally {
                g.stop();
            }
        } finally {
            backend.destroy();
            backend.waitFor();
        }
    }

    private static void latency(Map<String, Double> r, String what, long[] lat, long totalNanos) {
        long[] sorted = lat.clone();
        Arrays.sort(sorted);
        r.put(what + " IOPS", lat.length / (totalNanos / 1e9));
        r.put(what + " p50 us", sorted[sorted.length / 2] / 1e3);
        r.put(what + " p99 us", sorted[(int) (sorted.length * 0.99)] / 1e3);
    }

    /** The same 4 KiB random reads, preadv straight from the image into a buffer: no virtio at all. */
    private static double directReads(Path image) {
        try (MemfdMemory mem = MemfdMemory.allocate("direct", 1 << 20); PosixFile f = PosixFile.open(image, true)) {
            IoVector buf = new IoVector();
            mem.gather(buf, 0, 4096);
            Random rnd = new Random(7);
            long sectors = IMAGE_BYTES / 512;
            int n = RANDOM_OPS * 4;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) f.readFully(buf, rnd.nextLong(sectors / 8) * 8 * 512);
            return n / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** utime + stime of process {@code pid} (/proc/PID/stat fields 14 and 15, in clock ticks of 10 ms). */
    private static long cpuNanos(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
    }
}

package guestlab.bench;

import guestlab.bench.BlockLoad.Pattern;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The block device itself, without an emulated CPU: one asynchronous front-end ({@link BlockLoad})
 * drives guestlab's back-end and qemu-storage-daemon's vhost-user-blk export, with aio=threads and
 * with aio=io_uring, on the same warm image, taking turns, each back-end a process of its own
 * with two queues. Per round and back-end: 4 KiB random reads and writes at queue depth 1 and 32
 * (IOPS, p50 and p99 latency), the same at depth 32 on each of two queues, 1 MiB sequential reads
 * and writes at depth 4 (MB/s), and the back-end's CPU time per I/O at depth 32 (from /proc).
 * Each back-end first serves some unmeasured requests, as a JVM compiles its hot path then.
 * Beside them the limit: the same pattern as preadv/pwritev straight on the image from one thread
 * (two for the two-queue figures), no virtio in between ({@link DirectLoad}).
 * Usage: VhostBench [rounds]  (bench/vhost.sh; 5 unless told)
 */
public final class VhostBench {
    private static final long IMAGE_BYTES = 1L << 30;
    private static final int SMALL = 4096;
    private static final int LARGE = 1 << 20;
    private static final int QD1_REQUESTS = 4000;
    private static final int QD32_REQUESTS = 40_000;
    /** One pass over the image: 256 (a quarter) took 30 ms here, too short a window to time. */
    private static final int SEQUENTIAL_REQUESTS = (int) (IMAGE_BYTES / LARGE);

    private static final List<String> BACK_ENDS = List.of("guestlab", "qsd aio=threads", "qsd aio=io_uring");
    private static final String DIRECT = "direct syscalls";

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path dir = Files.createTempDirectory("guestlab-vhostbench-");
        Path image = dir.resolve("disk.img");
        System.err.printf("bench: writing a %d MiB image%n", IMAGE_BYTES >> 20);
        byte[] fill = new byte[1 << 20];
        new SplittableRandom(1).nextBytes(fill);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            for (long at = 0; at < IMAGE_BYTES; at += fill.length) f.write(fill); // real blocks, warm in the page cache
        }
        Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
        System.err.printf("bench: warm-up (not counted) %s%n", runBackEnd("guestlab", image, dir));
        for (int round = 1; round <= rounds; round++) {
            for (int turn = 0; turn < BACK_ENDS.size(); turn++) {
                String backEnd = BACK_ENDS.get((round - 1 + turn) % BACK_ENDS.size());
                keep(results, backEnd, runBackEnd(backEnd, image, dir), round);
            }
            keep(results, DIRECT, runDirect(image), round);
        }
        print(results, rounds);
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
        }
        Files.deleteIfExists(dir);
        System.exit(0);
    }

    private static void keep(Map<String, Map<String, List<Double>>> results, String who, Map<String, Double> r, int round) {
        System.err.printf("bench: round %d %-17s %s%n", round, who, r);
        r.forEach((k, v) -> results.computeIfAbsent(who, m -> new LinkedHashMap<>()).computeIfAbsent(k, x -> new ArrayList<>()).add(v));
    }

    /** Every figure of one back-end, in one process of its own, started for this run. */
    private static Map<String, Double> runBackEnd(String backEnd, Path image, Path dir) throws Exception {
        Path sock = dir.resolve("blk.sock"), log = dir.resolve(backEnd.replace(' ', '-') + ".log");
        Process p = switch (backEnd) {
            case "guestlab" -> BackEndProcess.guestlab(image, sock, 2, log);
            case "qsd aio=threads" -> BackEndProcess.qemuStorageDaemon(image, sock, 2, "threads", log);
            default -> BackEndProcess.qemuStorageDaemon(image, sock, 2, "io_uring", log);
        };
        try (BlockLoad load = BlockLoad.connect(sock, 2)) {
            // Not counted: a JVM back-end compiles its hot path in its first few thousand requests.
            load.run(Pattern.RANDOM_READ, SMALL, 8, QD32_REQUESTS, 2);
            load.run(Pattern.RANDOM_WRITE, SMALL, 8, QD1_REQUESTS, 2);
            Map<String, Double> r = new LinkedHashMap<>();
            latency(r, "4K read QD1", load.run(Pattern.RANDOM_READ, SMALL, 1, QD1_REQUESTS, 1));
            latency(r, "4K write QD1", load.run(Pattern.RANDOM_WRITE, SMALL, 1, QD1_REQUESTS, 1));
            long cpu = BackEndProcess.cpuNanos(p.pid());
            latency(r, "4K read QD32", load.run(Pattern.RANDOM_READ, SMALL, 32, QD32_REQUESTS, 1));
            r.put("4K read QD32 CPU us/IO", (BackEndProcess.cpuNanos(p.pid()) - cpu) / 1e3 / QD32_REQUESTS);
            cpu = BackEndProcess.cpuNanos(p.pid());
            latency(r, "4K write QD32", load.run(Pattern.RANDOM_WRITE, SMALL, 32, QD32_REQUESTS, 1));
            r.put("4K write QD32 CPU us/IO", (BackEndProcess.cpuNanos(p.pid()) - cpu) / 1e3 / QD32_REQUESTS);
            r.put("4K read 2xQD32 IOPS", load.run(Pattern.RANDOM_READ, SMALL, 32, QD32_REQUESTS, 2).iops());
            r.put("4K write 2xQD32 IOPS", load.run(Pattern.RANDOM_WRITE, SMALL, 32, QD32_REQUESTS, 2).iops());
            r.put("1M read QD4 MB/s", load.run(Pattern.SEQUENTIAL_READ, LARGE, 4, SEQUENTIAL_REQUESTS, 1).megabytesPerSecond());
            r.put("1M write QD4 MB/s", load.run(Pattern.SEQUENTIAL_WRITE, LARGE, 4, SEQUENTIAL_REQUESTS, 1).megabytesPerSecond());
            return r;
        } catch (Exception e) {
            throw new IllegalStateException(backEnd + " failed (its log: " + log + "): " + e.getMessage(), e);
        } finally {
            p.destroy();
            p.waitFor();
        }
    }

    /** The same patterns issued straight on the image: the most any back-end could do here. */
    private static Map<String, Double> runDirect(Path image) throws Exception {
        try (DirectLoad direct = DirectLoad.open(image)) {
            Map<String, Double> r = new LinkedHashMap<>();
            latency(r, "4K read QD1", direct.run(false, true, SMALL, QD32_REQUESTS, 1));
            latency(r, "4K write QD1", direct.run(true, true, SMALL, QD32_REQUESTS, 1));
            r.put("4K read 2xQD32 IOPS", direct.run(false, true, SMALL, QD32_REQUESTS, 2).iops());
            r.put("4K write 2xQD32 IOPS", direct.run(true, true, SMALL, QD32_REQUESTS, 2).iops());
            r.put("1M read QD4 MB/s", direct.run(false, false, LARGE, SEQUENTIAL_REQUESTS, 1).megabytesPerSecond());
            r.put("1M write QD4 MB/s", direct.run(true, false, LARGE, SEQUENTIAL_REQUESTS, 1).megabytesPerSecond());
            return r;
        }
    }

    private static void latency(Map<String, Double> r, String what, BlockLoad.Result result) {
        r.put(what + " IOPS", result.iops());
        r.put(what + " p50 us", result.percentileMicros(0.50));
        r.put(what + " p99 us", result.percentileMicros(0.99));
    }

    private static void print(Map<String, Map<String, List<Double>>> results, int rounds) {
        System.out.printf("%nvhost-user block back-ends driven by one front-end, medians of %d rounds"
                + " (image %d MiB, warm; 2 queues offered; random 4 KiB, sequential 1 MiB)%n", rounds, IMAGE_BYTES >> 20);
        List<String> columns = new ArrayList<>(BACK_ENDS);
        columns.add(DIRECT);
        System.out.printf("%-24s", "");
        for (String c : columns) System.out.printf(" %27s", c);
        System.out.printf(" %10s %10s %10s%n", "g/threads", "g/io_uring", "g/direct");
        for (String figure : results.get("guestlab").keySet()) {
            System.out.printf("%-24s", figure);
            for (String c : columns) {
                List<Double> v = results.get(c).get(figure);
                System.out.printf(" %27s", v == null ? "-" : String.format("%.1f [%.1f-%.1f]", BlockBench.median(v),
                        quantile(v, 0.25), quantile(v, 0.75)));
            }
            for (String peer : List.of("qsd aio=threads", "qsd aio=io_uring", DIRECT)) {
                System.out.printf(" %10s", ratio(results, figure, peer));
            }
            System.out.println();
        }
        // At depth 32 one thread issuing back-to-back syscalls is the limit of a single queue.
        for (String op : List.of("read", "write")) {
            System.out.printf("guestlab 4K %s QD32 / direct 4K %s (one thread): %.2f%n", op, op,
                    BlockBench.median(results.get("guestlab").get("4K " + op + " QD32 IOPS"))
                            / BlockBench.median(results.get(DIRECT).get("4K " + op + " QD1 IOPS")));
        }
        System.out.println("Medians [interquartile range] of the rounds. For latencies and CPU lower is better; for the rest higher."
                + " Ratios: guestlab's median over the peer's.");
    }

    /** The {@code q} quantile of {@code xs}, interpolated between the two nearest rounds. */
    private static double quantile(List<Double> xs, double q) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        double at = q * (s.size() - 1);
        int lo = (int) Math.floor(at), hi = (int) Math.ceil(at);
        return s.get(lo) + (s.get(hi) - s.get(lo)) * (at - lo);
    }

    private static String ratio(Map<String, Map<String, List<Double>>> results, String figure, String peer) {
        List<Double> g = results.get("guestlab").get(figure), p = results.get(peer).get(figure);
        return g == null || p == null ? "-" : String.format("%.2f", BlockBench.median(g) / BlockBench.median(p));
    }
}

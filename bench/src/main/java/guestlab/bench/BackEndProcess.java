package guestlab.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** A vhost-user-blk back-end as a process of its own, serving an image on a unix socket. */
final class BackEndProcess {
    private BackEndProcess() {}

    /**
     * The C peer: qemu-storage-daemon's vhost-user-blk export with {@code queues} queues, its file
     * node doing I/O with {@code aio} ("threads", its default, or "io_uring"), through the page cache.
     */
    static Process qemuStorageDaemon(Path image, Path socket, int queues, String aio, Path log) throws IOException, InterruptedException {
        return start(List.of("qemu-storage-daemon", "--blockdev", "driver=file,node-name=file0,filename=" + image + ",aio=" + aio,
                "--export", "type=vhost-user-blk,id=exp0,node-name=file0,writable=on,num-queues=" + queues
                        + ",addr.type=unix,addr.path=" + socket), socket, log);
    }

    /**
     * guestlab's back-end, as {@code ./guestlab vhost-user block} runs it, on this JVM's class path.
     * With {@code GUESTLAB_BENCH_JFR=DIR} set, JFR records it (profile settings, each thread's
     * allocations every second) into {@code DIR/guestlab-MILLIS.jfr}.
     */
    static Process guestlab(Path image, Path socket, int queues, Path log) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> argv = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        String jfr = System.getenv("GUESTLAB_BENCH_JFR");
        if (jfr != null && !jfr.isEmpty()) {
            Path dir = Files.createDirectories(Path.of(jfr));
            argv.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,jdk.ThreadAllocationStatistics#period=1s,filename="
                    + dir.resolve("guestlab-" + System.currentTimeMillis() + ".jfr"));
        }
        argv.addAll(List.of("-cp", System.getProperty("java.class.path"),
                "guestlab.launcher.VhostUserServer", "block", socket.toString(), image.toString(), "--queues", String.valueOf(queues)));
        return start(argv, socket, log);
    }

    /**
     * The CPU time process {@code pid}'s threads have spent so far, in nanoseconds: the sum of
     * each thread's run time in /proc/PID/task/TID/schedstat (finer than /proc/PID/stat's ticks).
     * Threads that ended are not counted, so call it while the process serves.
     */
    static long cpuNanos(long pid) throws IOException {
        long sum = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    sum += Long.parseLong(Files.readString(t.resolve("schedstat")).split(" ")[0]);
                } catch (IOException e) {
                    // the thread ended meanwhile
                }
            }
        }
        return sum;
    }

    /**
     * Starts {@code argv}, its output in {@code log}, and returns once {@code socket} exists (or
     * the process has ended, or 10 s have passed: the caller finds out when it connects).
     */
    private static Process start(List<String> argv, Path socket, Path log) throws IOException, InterruptedException {
        Files.deleteIfExists(socket);
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        for (int i = 0; i < 400 && !Files.exists(socket) && p.isAlive(); i++) Thread.sleep(25);
        return p;
    }
}

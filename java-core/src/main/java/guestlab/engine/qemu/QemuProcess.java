package guestlab.engine.qemu;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One running QEMU: the process, its QMP client and its serial console.
 *
 * <p>{@link #start} launches QEMU paused (see {@link QemuCommand#startPaused}), waits for both
 * sockets, connects QMP and the console, then resumes the guest, so the console sees the boot from
 * its first byte. If QEMU exits or fails on the way, the exception carries the tail of its stderr.
 *
 * <p>No QEMU outlives its owner: {@link #close} asks QMP to quit, waits briefly, then kills; and a
 * JVM shutdown hook kills the process if the JVM exits without closing it (a SIGKILL of the JVM
 * cannot be covered; QEMU then keeps running until killed).
 */
public final class QemuProcess implements AutoCloseable {
    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(15);
    public static final Duration QMP_TIMEOUT = Duration.ofSeconds(10);
    private static final int STDERR_KEEP = 64 * 1024;

    private final QemuCommand command;
    private final Process process;
    private final OutputTail stderr;
    private final Thread shutdownHook;
    private final boolean ownsRunDir;
    private QmpClient qmp;
    private SerialConsole console;
    private boolean closed;

    private QemuProcess(QemuCommand command, Process process, boolean ownsRunDir) {
        this.command = command;
        this.process = process;
        this.ownsRunDir = ownsRunDir;
        this.stderr = new OutputTail(process.getInputStream(), STDERR_KEEP, "guestlab-qemu-stderr-" + process.pid());
        this.shutdownHook = new Thread(process::destroyForcibly, "guestlab-qemu-kill-" + process.pid());
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** Starts QEMU with no console mirror and the default start timeout. */
    public static QemuProcess start(QemuCommand command) throws IOException {
        return start(command, DEFAULT_START_TIMEOUT, null);
    }

    /**
     * Starts QEMU and connects to it. A null {@code runDir} gets a fresh temp directory (removed on
     * close); {@code serialSink} (may be null) sees the console output as it arrives.
     */
    public static QemuProcess start(QemuCommand command, Duration startTimeout, Consumer<String> serialSink) throws IOException {
        boolean ownsRunDir = command.runDir() == null;
        if (ownsRunDir) command = command.withRunDir(Files.createTempDirectory("guestlab-qemu-"));
        Files.deleteIfExists(command.serialSocket());
        Files.deleteIfExists(command.qmpSocket());
        ProcessBuilder pb = new ProcessBuilder(inOwnSession(command.args()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true); // stdout and stderr: one tail
        Process p;
        try {
            // setsid would start and then fail to exec a missing QEMU: say so as a failed start
            if (!Files.isExecutable(command.qemu())) throw new IOException("no such executable");
            p = pb.start();
        } catch (IOException e) {
            if (ownsRunDir) deleteRunDir(command.runDir());
            throw new IOException("cannot start " + command.qemu() + ": " + e.getMessage(), e);
        }
        QemuProcess q = new QemuProcess(command, p, ownsRunDir);
        try {
            q.connect(startTimeout, serialSink);
            return q;
        } catch (IOException | RuntimeException e) {
            String why = q.process.isAlive() ? e.getMessage() : "QEMU exited with status " + q.exitStatusNow();
            q.close();
            q.stderr.awaitEnd(2000);
            IOException failure = new IOException("QEMU failed to start: " + why + "\n--- QEMU stderr ---\n" + q.stderr.lastLines(20)
                    + "\n--- command ---\n" + String.join(" ", command.args()), e);
            throw failure;
        }
    }

    private static final Path SETSID = Path.of("/usr/bin/setsid");

    /**
     * args run in a session of their own (util-linux setsid, which execs in the same process, so
     * the pid stays QEMU's), away from the terminal's process group: a Ctrl-C typed at the
     * terminal, for the REPL, must not reach QEMU, which would quit on SIGINT. The JVM's shutdown
     * hook still ends QEMU when the JVM ends.
     */
    static List<String> inOwnSession(List<String> args) {
        if (!Files.isExecutable(SETSID)) return args;
        List<String> all = new ArrayList<>(args.size() + 1);
        all.add(SETSID.toString());
        all.addAll(args);
        return all;
    }

    private void connect(Duration timeout, Consumer<String> serialSink) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!(Files.exists(command.serialSocket()) && Files.exists(command.qmpSocket()))) {
            if (!process.isAlive()) throw new IOException("QEMU exited before its sockets appeared");
            if (System.nanoTime() > deadline) throw new IOException("QEMU's sockets did not appear within " + timeout.toMillis() + " ms");
            sleep(10);
        }
        console = SerialConsole.connect(command.serialSocket(), serialSink);
        qmp = QmpClient.connect(command.qmpSocket(), QMP_TIMEOUT);
        if (command.startPaused()) qmp.cont();
    }

    public QemuCommand command() { return command; }

    public long pid() { return process.pid(); }

    public boolean isAlive() { return process.isAlive(); }

    public QmpClient qmp() { return qmp; }

    public SerialConsole console() { return console; }

    /** The last lines QEMU wrote to stderr/stdout. */
    public String stderrTail(int lines) { return stderr.lastLines(lines); }

    /** Waits for QEMU to exit; returns its exit status, or -1 if it is still running after {@code timeout}. */
    public int waitForExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    /** Quits QEMU (QMP quit, 3 s grace, then SIGKILL), closes the connections, removes its sockets. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        try {
            if (process.isAlive() && qmp != null && qmp.isOpen()) {
                try {
                    qmp.quit();
                } catch (IOException ignored) {
                    // kill it below
                }
                process.waitFor(3, TimeUnit.SECONDS);
            }
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            if (qmp != null) qmp.close();
            if (console != null) console.close();
            stderr.awaitEnd(1000);
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException alreadyShuttingDown) {
                // the hook is running or about to
            }
            try {
                Files.deleteIfExists(command.serialSocket());
                Files.deleteIfExists(command.qmpSocket());
                if (ownsRunDir) deleteRunDir(command.runDir());
            } catch (IOException ignored) {
                // a stale socket in /tmp is harmless
            }
        }
    }

    private String exitStatusNow() {
        try {
            process.waitFor(2, TimeUnit.SECONDS);
            return process.isAlive() ? "(still running)" : Integer.toString(process.exitValue());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(unknown)";
        }
    }

    private static void deleteRunDir(Path dir) throws IOException {
        Files.deleteIfExists(dir.resolve("serial.sock"));
        Files.deleteIfExists(dir.resolve("qmp.sock"));
        Files.deleteIfExists(dir);
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting QEMU", e);
        }
    }
}

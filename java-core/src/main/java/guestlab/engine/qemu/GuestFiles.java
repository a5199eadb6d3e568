package guestlab.engine.qemu;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Copies a file from the host into a QEMU guest ({@link #put}) or out of it ({@link #get})
 * through the guest's {@link TransferDisk}, {@value TransferDisk#CAPACITY} bytes at a time, and
 * checks that the sha256 of what arrived is the sha256 of what left.
 *
 * <p>put: the host writes a piece into the disk's file; the guest appends exactly that many bytes
 * of the disk (read with O_DIRECT) to a temporary file beside the destination; when every piece
 * is there, the guest's sha256sum of it must equal the host's, and only then is it renamed to the
 * destination. get is the reverse: the guest writes a piece of the file to the disk with O_DIRECT,
 * the host appends it to a temporary file beside the destination, and renames it when the guest's
 * sha256sum of its file equals the host's of the bytes received. Whatever fails, nothing is left
 * under the destination's name that was not checked, and the error names the path at fault.
 *
 * <p>The guest's side is a few shell commands typed on its console (busybox or coreutils dd,
 * head, stat, sha256sum, mv), each in a subshell so that the console's shell keeps its state.
 * One transfer at a time per guest: a second waits for the first.
 */
public final class GuestFiles {
    /** What a transfer moved: its size, its sha256 (the same on both ends) and how long it took. */
    public record Transfer(long bytes, String sha256, Duration took) {}

    private static final long MIB = 1 << 20;
    /** How long a guest command that moves no data may take. */
    private static final Duration COMMAND_TIME = Duration.ofSeconds(60);
    /** A floor under the guest's speed for the timeouts of commands that move data (TCG on a busy host). */
    private static final long SLOWEST_BYTES_PER_SECOND = 1 << 20;

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}(?:\\s.*)?");
    private static final Pattern DISK = Pattern.compile("vd[a-z]+");
    private static final Pattern FREE = Pattern.compile("(\\d+) (\\d+)");
    private static final Pattern COUNT = Pattern.compile("\\d+");

    private final String guest;
    private final SerialConsole console;
    private final TransferDisk disk;
    private volatile String device; // the disk's name in the guest, once found

    GuestFiles(String guest, SerialConsole console, TransferDisk disk) {
        this.guest = guest;
        this.console = console;
        this.disk = disk;
    }

    /**
     * Copies the host file {@code local} to {@code guestPath} (absolute; an existing file there is
     * replaced). {@code progress} (null: none) gets a line when it is done, and one per piece of a file larger than the disk.
     */
    public Transfer put(Path local, String guestPath, Consumer<String> progress) throws IOException {
        progress = quietIfNull(progress);
        String where = checkGuestPath(guestPath) + " in guest " + guest;
        checkSource(local);
        long size = Files.size(local);
        String dir = parentOf(guestPath);
        String partial = q(dir + (dir.endsWith("/") ? "" : "/") + "." + nameOf(guestPath) + ".guestlab-put");
        disk.acquire();
        long start = System.nanoTime();
        boolean created = false, done = false;
        try (FileChannel in = FileChannel.open(local, StandardOpenOption.READ)) {
            String dev = device();
            SerialConsole.Result check = run("(p=" + q(guestPath) + "; d=" + q(dir) + "; [ -d \"$p\" ] && exit 10; "
                    + "[ -e \"$d\" ] || exit 11; [ -d \"$d\" ] || exit 12; (: > " + partial + ") || exit 13; stat -f -c '%f %S' \"$d\")", COMMAND_TIME);
            switch (check.exitCode()) {
                case 0 -> created = true;
                case 10 -> throw fail(where + " is a directory; give the path of the file to write");
                case 11 -> throw fail(guestPath + ": there is no directory " + dir + " in guest " + guest);
                case 12 -> throw fail(guestPath + ": " + dir + " is not a directory in guest " + guest);
                case 13 -> throw fail("cannot write " + where + ": " + guestSays(check));
                default -> throw fail("cannot check " + where + ": " + guestSays(check));
            }
            long free = freeBytes(check);
            if (size > free) {
                throw fail("no room for " + where + ": the file is " + amount(size) + ", the guest's filesystem holding " + dir
                        + " has " + amount(free) + " free; nothing written");
            }
            MessageDigest sha = sha256();
            for (long moved = 0; moved < size; ) {
                long n = Math.min(TransferDisk.CAPACITY, size - moved);
                disk.fill(in, n, sha);
                SerialConsole.Result w = run(appendPiece(dev, moved, n, partial), timeFor(n));
                if (w.exitCode() != 0) throw writeFailed(where, dir, size - moved, w);
                moved += n;
                if (moved < size) progress.accept("put! " + where + ": " + amount(moved) + " of " + amount(size));
            }
            String hex = HexFormat.of().formatHex(sha.digest());
            SerialConsole.Result commit = run("(h=$(sha256sum < " + partial + ") || exit 20; h=${h%% *}; echo \"$h\"; [ \"$h\" = " + hex
                    + " ] || exit 21; mv -f " + partial + " " + q(guestPath) + " || exit 22; sync; exit 0)", timeFor(size));
            switch (commit.exitCode()) {
                case 0 -> done = true;
                case 21 -> throw fail("the guest's copy of " + guestPath + " has sha256 " + sha256Of(commit).orElse("(none printed)") + ", the host's "
                        + local + " " + hex + "; nothing written in guest " + guest);
                default -> throw fail("cannot finish " + where + ": " + guestSays(commit) + "; nothing written");
            }
            return finished("put! " + local + " -> " + where, size, hex, start, progress);
        } catch (ClosedChannelException e) {
            throw fail("guest " + guest + " stopped while " + guestPath + " was copied into it; nothing written", e);
        } finally {
            try {
                if (created && !done && console.isOpen()) run("rm -f " + partial, COMMAND_TIME);
            } catch (IOException ignored) {
                // the failure that brought us here is the one to report; the partial file has a name of its own
            } finally {
                disk.release();
            }
        }
    }

    /**
     * Copies the guest's regular file {@code guestPath} (absolute) to the host file {@code local}
     * (an existing file there is replaced). {@code progress} (null: none) gets a line when it is
     * done, and one per piece of a file larger than the disk.
     */
    public Transfer get(String guestPath, Path local, Consumer<String> progress) throws IOException {
        progress = quietIfNull(progress);
        String where = checkGuestPath(guestPath) + " in guest " + guest;
        Path target = local.toAbsolutePath();
        Path dir = target.getParent();
        if (Files.isDirectory(target)) throw fail(local + " is a directory; give the path of the file to write");
        if (dir == null || !Files.isDirectory(dir)) throw fail("cannot write " + local + ": there is no directory " + dir);
        disk.acquire();
        long start = System.nanoTime();
        Path partial = null;
        boolean done = false;
        try {
            String dev = device();
            String f = q(guestPath);
            SerialConsole.Result check = run("(f=" + f + "; [ -e \"$f\" ] || exit 10; [ -d \"$f\" ] && exit 11; [ -f \"$f\" ] || exit 12; "
                    + "[ -r \"$f\" ] || exit 13; stat -c %s \"$f\")", COMMAND_TIME);
            switch (check.exitCode()) {
                case 0 -> { }
                case 10 -> throw fail(where + " does not exist");
                case 11 -> throw fail(where + " is a directory; get! copies one file");
                case 12 -> throw fail(where + " is not a regular file (a device, FIFO or socket); get! copies regular files");
                case 13 -> throw fail(where + " is not readable");
                default -> throw fail("cannot check " + where + ": " + guestSays(check));
            }
            long size = parseCount(check, where);
            partial = Files.createFile(dir.resolve("." + target.getFileName() + ".guestlab-get-"
                    + Long.toString(ThreadLocalRandom.current().nextLong(1L << 40), 36)));
            MessageDigest sha = sha256();
            try (FileChannel out = FileChannel.open(partial, StandardOpenOption.WRITE)) {
                for (long moved = 0; moved < size; ) {
                    long n = Math.min(TransferDisk.CAPACITY, size - moved);
                    SerialConsole.Result r = run("dd if=" + f + " of=/dev/" + dev + " bs=1M skip=" + moved / MIB + " count=" + mibs(n)
                            + " oflag=direct conv=sync,notrunc 2>&1", timeFor(n));
                    if (r.exitCode() != 0) throw fail("reading " + where + " failed: " + guestSays(r) + "; " + local + " not written");
                    disk.drain(out, n, sha);
                    moved += n;
                    if (moved < size) progress.accept("get! " + where + ": " + amount(moved) + " of " + amount(size));
                }
                out.force(true);
            }
            String hex = HexFormat.of().formatHex(sha.digest());
            SerialConsole.Result sum = run("sha256sum < " + f + " 2>&1", timeFor(size));
            String theirs = sha256Of(sum).orElse(null);
            if (sum.exitCode() != 0 || theirs == null) throw fail("cannot checksum " + where + ": " + guestSays(sum) + "; " + local + " not written");
            if (!theirs.equals(hex)) {
                throw fail(where + " changed while it was copied: the guest's sha256 of it is " + theirs + ", of the bytes received "
                        + hex + "; " + local + " not written");
            }
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
            return finished("get! " + where + " -> " + local, size, hex, start, progress);
        } catch (ClosedChannelException e) {
            throw fail("guest " + guest + " stopped while " + guestPath + " was copied out of it; " + local + " not written", e);
        } finally {
            try {
                if (!done && partial != null) Files.deleteIfExists(partial);
            } finally {
                disk.release();
            }
        }
    }

    /**
     * The guest command that appends the first {@code n} bytes of the disk {@code dev} to the file
     * {@code partial}, which holds {@code moved} bytes (whole MiB): the whole MiB straight from the
     * disk to their place in the file, and the rest, if any, through {@code head -c} for the exact
     * count (a pipe for all of it took three times as long under TCG).
     */
    static String appendPiece(String dev, long moved, long n, String partial) {
        long whole = n / MIB, rest = n % MIB;
        String direct = "dd if=/dev/" + dev + " iflag=direct bs=1M";
        String wholes = direct + " of=" + partial + " seek=" + moved / MIB + " count=" + whole + " conv=notrunc 2>&1";
        String tail = "{ " + direct + " skip=" + whole + " count=1 2>/dev/null | head -c " + rest + " >> " + partial + "; }";
        if (rest == 0) return wholes;
        return whole == 0 ? tail : wholes + " && " + tail;
    }

    /** The transfer disk's name in the guest ("vdb"), found by its serial the first time. */
    private String device() throws IOException {
        String d = device;
        if (d == null) {
            SerialConsole.Result r = run("for b in /sys/block/vd*; do [ \"$(cat $b/serial 2>/dev/null)\" = " + TransferDisk.SERIAL
                    + " ] && echo ${b##*/}; done; true", COMMAND_TIME);
            d = line(r, DISK).orElse(null);
            if (d == null) {
                throw fail("guest " + guest + " shows no disk with serial " + TransferDisk.SERIAL
                        + " (guestlab's transfer disk): its kernel needs the virtio_blk driver");
            }
            device = d;
        }
        return d;
    }

    private SerialConsole.Result run(String command, Duration timeout) throws IOException {
        return console.run(command, timeout);
    }

    private Transfer finished(String what, long size, String hex, long startNanos, Consumer<String> progress) {
        Duration took = Duration.ofNanos(System.nanoTime() - startNanos);
        double seconds = Math.max(1e-3, took.toNanos() / 1e9);
        String rate = size < MIB ? "" : String.format(Locale.ROOT, " (%.1f MiB/s)", size / (double) MIB / seconds);
        progress.accept(String.format(Locale.ROOT, "%s: %s in %.1f s%s, sha256 %s on both ends",
                what, amount(size), seconds, rate, hex.substring(0, 12)));
        return new Transfer(size, hex, took);
    }

    /** Why writing the rest of a put! failed: the guest's filesystem filled up (said so), or what the guest said. */
    private FileTransferException writeFailed(String where, String dir, long left, SerialConsole.Result w) throws IOException {
        SerialConsole.Result df = run("stat -f -c '%f %S' " + q(dir), COMMAND_TIME);
        if (df.exitCode() == 0 && freeBytes(df) < left) {
            return fail("the guest's filesystem holding " + dir + " is full: " + where + " had " + amount(left) + " still to write, "
                    + amount(freeBytes(df)) + " free (the guest says: " + guestSays(w) + "); nothing written");
        }
        return fail("writing " + where + " failed: " + guestSays(w) + "; nothing written");
    }

    /** The guest path, if it is one put! and get! take: absolute, a file's (not ending in /), one line of printable text. */
    private static String checkGuestPath(String p) throws FileTransferException {
        if (p == null || !p.startsWith("/")) throw fail("the guest path must be absolute (start with /), not " + p);
        if (p.chars().anyMatch(Character::isISOControl)) {
            throw fail("the guest path " + p.replaceAll("\\p{Cntrl}", "?") + " has a control character (a line break?); guestlab types it on the console");
        }
        if (p.endsWith("/")) throw fail("the guest path " + p + " ends in /; give the path of a file");
        return p;
    }

    private static void checkSource(Path local) throws FileTransferException {
        if (!Files.exists(local)) throw fail(local + " does not exist");
        if (Files.isDirectory(local)) throw fail(local + " is a directory; put! copies one file");
        if (!Files.isRegularFile(local)) throw fail(local + " is not a regular file; put! copies regular files");
        if (!Files.isReadable(local)) throw fail(local + " is not readable");
    }

    static String parentOf(String absolute) {
        int slash = absolute.lastIndexOf('/');
        return slash == 0 ? "/" : absolute.substring(0, slash);
    }

    static String nameOf(String absolute) {
        return absolute.substring(absolute.lastIndexOf('/') + 1);
    }

    /** {@code s} as one word of the guest's shell: single-quoted, its own single quotes as '\''. */
    static String q(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    /** The free bytes in what `stat -f -c '%f %S'` printed: free blocks (the guest's shell is root, which may use them all) and the block size. */
    private long freeBytes(SerialConsole.Result r) throws FileTransferException {
        try {
            Matcher m = FREE.matcher(line(r, FREE).orElseThrow());
            if (m.matches()) return Math.multiplyExact(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)));
        } catch (NoSuchElementException | NumberFormatException | ArithmeticException ignored) {
            // said below
        }
        throw fail("guest " + guest + " did not say how much room its filesystem has: " + guestSays(r));
    }

    private long parseCount(SerialConsole.Result r, String where) throws FileTransferException {
        try {
            return Long.parseLong(line(r, COUNT).orElseThrow());
        } catch (NoSuchElementException | NumberFormatException e) {
            throw fail("cannot tell the size of " + where + ": " + guestSays(r));
        }
    }

    /**
     * The last line of a command's output that {@code shape} matches whole. Only such a line is
     * taken: a background job of the user's may print on the console in the middle of a command's output.
     */
    static Optional<String> line(SerialConsole.Result r, Pattern shape) {
        return r.output().lines().map(String::strip).filter(l -> shape.matcher(l).matches()).reduce((a, b) -> b);
    }

    /** The sha256 a line of sha256sum's output starts with. */
    private static Optional<String> sha256Of(SerialConsole.Result r) {
        return line(r, SHA256).map(l -> l.substring(0, 64));
    }

    /** What the guest printed, as one line of at most 200 characters, control characters shown as ?. */
    private static String guestSays(SerialConsole.Result r) {
        String s = r.output().lines().map(String::strip).filter(l -> !l.isEmpty()).collect(Collectors.joining("; "))
                .replaceAll("\\p{Cntrl}", "?");
        if (s.isEmpty()) return "it printed nothing (exit status " + r.exitCode() + ")";
        return s.length() > 200 ? s.substring(0, 197) + "..." : s;
    }

    /** The time a command that moves {@code n} bytes may take. */
    private static Duration timeFor(long n) {
        return COMMAND_TIME.plusSeconds(n / SLOWEST_BYTES_PER_SECOND);
    }

    private static long mibs(long n) {
        return (n + MIB - 1) / MIB;
    }

    static String amount(long bytes) {
        if (bytes < 1024) return bytes + " bytes";
        if (bytes < MIB) return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        if (bytes < 1024 * MIB) return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) MIB);
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (1024.0 * MIB));
    }

    private static Consumer<String> quietIfNull(Consumer<String> progress) {
        return progress == null ? line -> { } : progress;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    private static FileTransferException fail(String message) {
        return new FileTransferException(message);
    }

    private static FileTransferException fail(String message, Throwable cause) {
        return new FileTransferException(message, cause);
    }
}

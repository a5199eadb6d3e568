package guestlab.engine.qemu;

import guestlab.devices.BlockDevice;
import guestlab.events.EventBus;
import guestlab.vhostuser.VhostUserBackend;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The disk files move through between the host and a QEMU guest ({@link GuestFiles}): a guestlab
 * block device on a sparse file of {@value #CAPACITY} bytes in a directory of its own in the
 * guest's run directory (apart from the sockets of the spec's devices, whatever their names), served
 * over vhost-user like any disk and attached after the spec's own devices, so it is the guest's
 * last virtio disk and the names of the user's disks do not move. The guest finds it by its
 * serial, {@value #SERIAL} (the image's file name, which guestlab's block device answers to
 * GET_ID). It has its own event bus: the guest's devices, queues and events stay the spec's.
 *
 * <p>The host reads and writes the file while the guest runs; the guest reads and writes the
 * disk with O_DIRECT, so neither side sees a stale cache. The file is emptied after each
 * transfer (reads past its end are zeros) and deleted with the run directory when the guest stops.
 */
public final class TransferDisk implements AutoCloseable {
    /** The disk's serial in the guest ({@code /sys/block/vdX/serial}). */
    public static final String SERIAL = "guestlab-files";
    /** Bytes the disk holds; a larger file moves in pieces of this size. */
    public static final long CAPACITY = 64L << 20;
    /** The name of the disk's vhost-user device, in the back-end's thread names and messages. */
    static final String DEVICE = "files";
    /** The directory in the run directory that holds the disk's file and socket. */
    static final String DIRECTORY = "transfer";

    private static final int BUFFER = 1 << 20;

    private final Path area;
    private final BlockDevice device;
    private final VhostUserBackend backend;
    private final FileChannel channel;
    private final ReentrantLock turn = new ReentrantLock(true);

    private TransferDisk(Path area, BlockDevice device, VhostUserBackend backend, FileChannel channel) {
        this.area = area;
        this.device = device;
        this.backend = backend;
        this.channel = channel;
    }

    /** Creates the disk's file in {@code runDir}/{@value #DIRECTORY} and starts serving it on a socket there. */
    static TransferDisk create(String guest, Path runDir) throws IOException {
        Path dir = Files.createDirectory(runDir.resolve(DIRECTORY));
        Path area = dir.resolve(SERIAL);
        FileChannel channel = FileChannel.open(area, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
        BlockDevice device = null;
        try {
            device = sized(area, channel);
            VhostUserBackend backend = new VhostUserBackend(guest, DEVICE, device, dir.resolve("disk.sock"), new EventBus(64));
            return new TransferDisk(area, device, backend, channel);
        } catch (IOException | RuntimeException e) {
            if (device != null) device.close();
            channel.close();
            Files.deleteIfExists(area);
            Files.deleteIfExists(dir);
            throw e;
        }
    }

    /**
     * The device over the file at its full capacity: the device takes its size once, when it
     * opens; then the file is emptied, since what lies past its end reads as zeros.
     */
    private static BlockDevice sized(Path area, FileChannel channel) throws IOException {
        channel.write(ByteBuffer.allocate(1), CAPACITY - 1); // sparse: no block holds data
        BlockDevice d = BlockDevice.open(area, false);
        channel.truncate(0);
        return d;
    }

    /** The socket QEMU's vhost-user-blk-pci connects to. */
    public Path socket() {
        return backend.socket();
    }

    /** Holds the disk for one transfer; a second transfer on the same guest waits for the first. */
    void acquire() {
        turn.lock();
    }

    /** Ends a transfer: the disk's file is emptied (its blocks go back to the host) and the next transfer may start. */
    void release() throws IOException {
        try {
            channel.truncate(0);
        } finally {
            turn.unlock();
        }
    }

    /** Copies {@code n} bytes (at most {@link #CAPACITY}) from {@code from} to the start of the disk, adding them to {@code digest}. */
    void fill(ReadableByteChannel from, long n, MessageDigest digest) throws IOException {
        checkSize(n);
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        long done = 0;
        while (done < n) {
            buf.clear().limit((int) Math.min(BUFFER, n - done));
            if (from.read(buf) < 0) throw new IOException("the file ended after " + done + " of " + n + " bytes; did it shrink?");
            buf.flip();
            digest.update(buf.duplicate());
            while (buf.hasRemaining()) done += channel.write(buf, done);
        }
    }

    /** Copies the first {@code n} bytes (at most {@link #CAPACITY}) of the disk to {@code to}, adding them to {@code digest}. */
    void drain(WritableByteChannel to, long n, MessageDigest digest) throws IOException {
        checkSize(n);
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        long done = 0;
        while (done < n) {
            buf.clear().limit((int) Math.min(BUFFER, n - done));
            int got = channel.read(buf, done);
            if (got <= 0) buf.put(new byte[buf.remaining()]); // past the file's end: zeros, as the device reads them
            buf.flip();
            digest.update(buf.duplicate());
            while (buf.hasRemaining()) to.write(buf);
            done += buf.limit();
        }
    }

    private static void checkSize(long n) {
        if (n < 0 || n > CAPACITY) throw new IllegalArgumentException("a piece of 0 to " + CAPACITY + " bytes, not " + n);
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        try {
            backend.close();
        } catch (RuntimeException e) {
            failure = e;
        }
        device.close();
        try {
            channel.close();
            Files.deleteIfExists(area);
            Files.deleteIfExists(area.getParent());
        } catch (IOException ignored) {
            // the run directory, and this file with it, is deleted next
        }
        if (failure != null) throw failure;
    }
}

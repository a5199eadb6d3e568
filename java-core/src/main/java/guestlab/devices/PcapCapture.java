package guestlab.devices;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A pcap file (LINKTYPE_ETHERNET, microsecond timestamps, as tcpdump reads it) of the frames a
 * switch delivers. The switch only queues each frame; a writer thread of its own writes them
 * through a buffer, so a slow disk never holds up the switch. {@link #close()} stops the capture
 * and returns once every frame queued before it is in the file. A frame that finds the queue full
 * ({@value #QUEUE} frames) is not captured, and counted in {@link #missed()}.
 */
public final class PcapCapture implements AutoCloseable {
    static final int QUEUE = 65536;
    private static final int SNAPLEN = 65535, LINKTYPE_ETHERNET = 1;
    private static final Record END = new Record(0, new byte[0]);

    private record Record(long micros, byte[] frame) {}

    private final Path file;
    private final ArrayBlockingQueue<Record> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong written = new AtomicLong(), missed = new AtomicLong();
    private final long wallMicrosAtStart = System.currentTimeMillis() * 1000, nanosAtStart = System.nanoTime();
    private final Thread writer;
    private final Runnable onClose;
    private volatile boolean closed;
    private volatile IOException failure;

    /** Creates (or truncates) {@code file} and writes its header now; {@code onClose} runs when the capture stops. */
    PcapCapture(Path file, String switchName, Runnable onClose) {
        this.file = file;
        this.onClose = onClose;
        OutputStream out;
        try {
            out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16);
            out.write(header());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write capture file " + file + ": " + e.getMessage(), e);
        }
        writer = Thread.ofPlatform().daemon().name("guestlab-capture-" + switchName).start(() -> write(out));
    }

    public Path file() {
        return file;
    }

    /** Frames in the file (all of them once closed). */
    public long written() {
        return written.get();
    }

    /** Frames not captured because the writer was too far behind. */
    public long missed() {
        return missed.get();
    }

    /** Queues a frame for the file; never blocks. The frame must not change afterwards. */
    void record(byte[] frame) {
        if (closed) return;
        long micros = wallMicrosAtStart + (System.nanoTime() - nanosAtStart) / 1000;
        if (!queue.offer(new Record(micros, frame))) missed.incrementAndGet();
    }

    /** Stops capturing, writes what is queued, flushes and closes the file. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        onClose.run();
        try {
            queue.put(END);
            writer.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) throw new UncheckedIOException("capture file " + file + ": " + failure.getMessage(), failure);
    }

    private void write(OutputStream out) {
        ByteBuffer head = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        try {
            for (Record r = queue.take(); r != END; r = queue.take()) {
                if (failure != null) continue; // keep draining, so close() is never stuck on a full queue
                int len = Math.min(r.frame().length, SNAPLEN);
                head.clear().putInt((int) (r.micros() / 1_000_000)).putInt((int) (r.micros() % 1_000_000))
                        .putInt(len).putInt(r.frame().length);
                try {
                    out.write(head.array());
                    out.write(r.frame(), 0, len);
                    written.incrementAndGet();
                } catch (IOException e) {
                    failure = e;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            out.close();
        } catch (IOException e) {
            if (failure == null) failure = e;
        }
    }

    private static byte[] header() {
        return ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(0xa1b2c3d4).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0)
                .putInt(SNAPLEN).putInt(LINKTYPE_ETHERNET).array();
    }
}

package guestlab.transport.lguest;

import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.Features;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The smallest device that exercises a transport: every queue echoes what the driver offers back
 * into the chain's writable buffers. Config byte 0 is writable by the driver, byte 1 changes on
 * the host side ({@link #changeConfig}). A chain reading "boom" makes the device throw.
 */
final class EchoDevice implements VirtioDevice {
    /** Unassigned in the virtio device ID table: nobody mistakes it for a real device. */
    static final int TYPE = 0xe0;
    /** A device-specific feature bit the echo device offers. */
    static final int F_SHOUT = 3;

    final AtomicInteger starts = new AtomicInteger();
    final AtomicInteger resets = new AtomicInteger();
    volatile boolean closed;
    volatile RuntimeException failStart;
    private final int queues;
    private final byte[] config = {0, 7, 0x55, 0x66};
    private volatile DeviceContext ctx;

    EchoDevice(int queues) {
        this.queues = queues;
    }

    @Override public int type() { return TYPE; }
    @Override public long features() { return Features.RING_COMMON | Features.bit(F_SHOUT); }
    @Override public int queueCount() { return queues; }
    /** Queue 0 takes 64 entries, the others 16, so the vqconfig num fields differ. */
    @Override public int maxQueueSize(int index) { return index == 0 ? 64 : 16; }

    @Override
    public synchronized byte[] config() {
        return config.clone();
    }

    /** Only byte 0 is the driver's to write. */
    @Override
    public synchronized void writeConfig(int offset, byte[] data) {
        if (offset == 0 && data.length > 0) config[0] = data[0];
    }

    /** The host changes config byte 1 and tells the driver. */
    void changeConfig(int value) {
        synchronized (this) {
            config[1] = (byte) value;
        }
        ctx.configChanged();
    }

    DeviceContext context() {
        return ctx;
    }

    @Override
    public void start(DeviceContext context) {
        if (failStart != null) throw failStart;
        ctx = context;
        starts.incrementAndGet();
    }

    @Override
    public void handle(int index) throws RingFault {
        DeviceContext c = ctx;
        if (c == null) return;
        DeviceQueue q = c.queue(index);
        int served = q.serveAll(chain -> {
            byte[] in = chain.readBytes(c.memory(), 0, (int) chain.readableLength());
            if (new String(in, StandardCharsets.US_ASCII).equals("boom")) {
                throw new IllegalStateException("echo device exploded on queue " + index);
            }
            return chain.writeBytes(c.memory(), 0, in, 0, in.length);
        });
        if (served > 0) c.used(index);
    }

    @Override
    public void reset() {
        ctx = null;
        resets.incrementAndGet();
    }

    @Override
    public void close() {
        closed = true;
    }
}

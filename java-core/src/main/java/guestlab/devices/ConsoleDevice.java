package guestlab.devices;

import guestlab.virtio.Buffers;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.Injectable;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.console.ConsoleOutput;

import java.util.ArrayDeque;
import java.util.Objects;

/**
 * virtio-console with a single port (virtio 1.x section 5.3): queue 0 carries host input to the
 * guest, queue 1 guest output to the host. Input that arrives before the guest has posted
 * buffers waits, up to {@link #MAX_PENDING} bytes. Guest output is parsed into a
 * {@link ConsoleOutput} and given to the device's {@link ConsoleHandler}.
 */
public final class ConsoleDevice implements VirtioDevice, Injectable {
    static final int RECEIVEQ = 0, TRANSMITQ = 1;
    static final int MAX_PENDING = 1 << 20;
    private static final int QUEUE_SIZE = 64;
    private static final int CHUNK = 64 * 1024;

    private final ConsoleHost host;
    private final ArrayDeque<byte[]> pending = new ArrayDeque<>();
    private int pendingBytes;
    private volatile ConsoleHandler handler = this::output;
    private volatile DeviceContext ctx;

    public ConsoleDevice(ConsoleHost host) {
        this.host = host;
        host.connect(this::input);
    }

    /** The handler guest output goes to now; until {@link #setHandler} it is the device's own. */
    public ConsoleHandler handler() {
        return handler;
    }

    /**
     * Sends the output taken from now on to {@code h}, on a running device too. To wrap the
     * device's behaviour, keep {@link #handler()} and call it from {@code h}.
     */
    public void setHandler(ConsoleHandler h) {
        handler = Objects.requireNonNull(h, "handler");
    }

    @Override
    public int type() {
        return DeviceType.CONSOLE;
    }

    @Override
    public long features() {
        return Features.RING_COMMON;
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public int maxQueueSize(int index) {
        return QUEUE_SIZE;
    }

    /** cols, rows, max_nr_ports, emerg_wr (5.3.4); without F_SIZE/F_MULTIPORT the driver ignores them. */
    @Override
    public byte[] config() {
        return new byte[12];
    }

    @Override
    public void start(DeviceContext context) {
        this.ctx = context;
        context.wake(RECEIVEQ); // input may have arrived before the driver was ready
    }

    /** Input from the host end; what does not fit is dropped and reported. */
    private void input(byte[] bytes) {
        accept(bytes);
    }

    @Override
    public int receiveQueue() {
        return RECEIVEQ;
    }

    /** Bytes for the guest, as if typed at the host end. */
    @Override
    public void inject(byte[] bytes) {
        String refused = accept(bytes.clone());
        if (refused != null) throw new IllegalStateException(refused);
    }

    private String accept(byte[] bytes) {
        synchronized (pending) {
            if (pendingBytes + bytes.length > MAX_PENDING) {
                String why = "console input dropped: the guest is not reading (" + pendingBytes + " bytes waiting)";
                DeviceContext c = ctx;
                if (c != null) c.warn(RECEIVEQ, why);
                return why;
            }
            pending.addLast(bytes);
            pendingBytes += bytes.length;
        }
        DeviceContext c = ctx;
        if (c != null) c.wake(RECEIVEQ);
        return null;
    }

    @Override
    public void handle(int index) throws RingFault {
        DeviceContext c = ctx;
        if (c == null) return;
        if (index == TRANSMITQ) transmit(c);
        else receive(c);
    }

    private void transmit(DeviceContext c) throws RingFault {
        c.queue(TRANSMITQ).serveAll(chain -> handler.handle(ConsoleOutput.parse(c.memory(), chain)));
        c.used(TRANSMITQ);
    }

    /** The device's own handler: the bytes go to the host end. */
    private int output(ConsoleOutput out) {
        Buffers b = out.buffers();
        for (int i = 0; i < b.count(); i++) {
            // In pieces: a guest may offer gigabytes in one chain.
            for (int off = 0; off < b.len(i); off += CHUNK) {
                host.fromGuest(out.memory().read(b.addr(i) + off, Math.min(CHUNK, b.len(i) - off)));
            }
        }
        return 0;
    }

    private void receive(DeviceContext c) throws RingFault {
        DeviceQueue q = c.queue(RECEIVEQ);
        boolean any = false;
        while (true) {
            synchronized (pending) {
                if (pending.isEmpty()) break;
            }
            DescriptorChain chain = q.pop();
            if (chain == null) break;
            int written = fill(c, chain);
            q.push(chain, written);
            any = true;
        }
        if (any) c.used(RECEIVEQ);
    }

    /** Moves pending input into one chain's writable buffers; returns the bytes written. */
    private int fill(DeviceContext c, DescriptorChain chain) {
        long room = chain.writableLength();
        int written = 0;
        synchronized (pending) {
            while (!pending.isEmpty() && written < room) {
                byte[] head = pending.removeFirst();
                int n = (int) Math.min(head.length, room - written);
                chain.writeBytes(c.memory(), written, head, 0, n);
                written += n;
                pendingBytes -= n;
                if (n < head.length) pending.addFirst(java.util.Arrays.copyOfRange(head, n, head.length));
            }
        }
        return written;
    }

    @Override
    public void reset() {
        ctx = null;
    }

    @Override
    public void close() {
        ctx = null;
        host.close();
    }
}

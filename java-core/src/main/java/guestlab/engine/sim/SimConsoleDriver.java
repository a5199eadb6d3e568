package guestlab.engine.sim;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.VringLayout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * The simulated guest's virtio-console driver: queue 0 receives (it keeps buffers posted, as
 * virtio_console's fill_queue() does), queue 1 transmits.
 */
public final class SimConsoleDriver extends SimDriver {
    private static final int RX_BUFFERS = 4, RX_SIZE = 4096, TX_SIZE = 4096;
    private long rx;
    private long tx;

    SimConsoleDriver(String name, GuestMemory mem, GuestPages pages, DriverTransport transport, Duration timeout) {
        super(name, mem, pages, transport, timeout);
    }

    @Override
    long driverFeatures() {
        return 0;
    }

    @Override
    void started() {
        rx = pages.allocate((long) RX_BUFFERS * RX_SIZE);
        tx = pages.allocate(TX_SIZE);
        for (int i = 0; i < RX_BUFFERS; i++) post(rx + (long) i * RX_SIZE);
        kick(0);
    }

    private void post(long buf) {
        offer(0, List.of(), List.of(new Buffer(buf, RX_SIZE)));
    }

    /** The guest writes to its console; returns when the device has taken it. */
    public synchronized void write(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        for (int off = 0; off < bytes.length; off += TX_SIZE) {
            int n = Math.min(TX_SIZE, bytes.length - off);
            mem.write(tx, bytes, off, n);
            roundTrip(1, List.of(new Buffer(tx, n)), List.of());
        }
    }

    /** What the host has sent, waiting up to {@code wait} for the first bytes; "" if none came. */
    public synchronized String read(Duration wait) {
        StringBuilder got = new StringBuilder();
        DriverQueue.Used u = pollUsed(0, wait);
        while (u != null) {
            long buf = rx + (long) indexOf(u.head()) * RX_SIZE;
            got.append(new String(mem.read(buf, Math.min(u.len(), RX_SIZE)), StandardCharsets.UTF_8));
            post(buf);
            u = pollUsed(0, Duration.ZERO);
        }
        kick(0);
        return got.toString();
    }

    /** Which rx buffer a returned head carried: heads are reused, so remember by address. */
    private int indexOf(int head) {
        long addr = mem.readU64(queues[0].layout().descriptor(head) + VringLayout.DESC_ADDR);
        return (int) ((addr - rx) / RX_SIZE);
    }
}

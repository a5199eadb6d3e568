package guestlab.engine.sim;

import guestlab.virtio.net.NetSpec;
import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.VringLayout;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * The simulated guest's virtio-net driver: queue 0 receives into posted buffers (header +
 * frame each), queue 1 transmits one frame per chain behind a zeroed header.
 */
public final class SimNetDriver extends SimDriver {
    private static final int RX_BUFFERS = 16, BUF_SIZE = 2048;
    private long rx;
    private long tx;

    SimNetDriver(String name, GuestMemory mem, GuestPages pages, DriverTransport transport, Duration timeout) {
        super(name, mem, pages, transport, timeout);
    }

    @Override
    long driverFeatures() {
        return (1L << NetSpec.F_MAC) | (1L << NetSpec.F_STATUS);
    }

    @Override
    void started() {
        rx = pages.allocate((long) RX_BUFFERS * BUF_SIZE);
        tx = pages.allocate(BUF_SIZE);
        for (int i = 0; i < RX_BUFFERS; i++) post(rx + (long) i * BUF_SIZE);
        kick(0);
    }

    private void post(long buf) {
        offer(0, List.of(), List.of(new Buffer(buf, BUF_SIZE)));
    }

    private int header() {
        return NetSpec.headerSize(features);
    }

    public byte[] mac() {
        return Arrays.copyOfRange(config(), NetSpec.CFG_MAC, NetSpec.CFG_MAC + 6);
    }

    public boolean linkUp() {
        byte[] c = config();
        return (Byte.toUnsignedInt(c[NetSpec.CFG_STATUS]) & NetSpec.S_LINK_UP) != 0;
    }

    /** Sends one Ethernet frame (destination MAC first). */
    public synchronized void send(byte[] frame) {
        if (frame.length > NetSpec.MAX_FRAME) throw new IllegalArgumentException("frame longer than " + NetSpec.MAX_FRAME);
        mem.clear(tx, header());
        mem.write(tx + header(), frame);
        roundTrip(1, List.of(new Buffer(tx, header() + frame.length)), List.of());
    }

    /** The next frame that arrived, waiting up to {@code wait}; null if none came. */
    public synchronized byte[] receive(Duration wait) {
        DriverQueue.Used u = pollUsed(0, wait);
        if (u == null) return null;
        long buf = mem.readU64(queues[0].layout().descriptor(u.head()) + VringLayout.DESC_ADDR);
        int len = Math.max(0, Math.min(u.len(), BUF_SIZE) - header());
        byte[] frame = mem.read(buf + header(), len);
        post(buf);
        kick(0);
        return frame;
    }
}

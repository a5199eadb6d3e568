package guestlab.devices;

import guestlab.events.EventBus;
import guestlab.virtio.DescriptorChain;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.Injectable;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.net.NetTxRequest;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.function.Consumer;
import java.util.function.Function;

import static guestlab.virtio.net.NetSpec.*;

/**
 * virtio-net (virtio 1.x section 5.1) plugged into an {@link EthernetSwitch}: queue 0 receives
 * frames from the switch, queue 1 transmits into it. No offloads: headers we send are zero, and
 * headers the guest sends are skipped. Frames arriving faster than the guest reads them wait in
 * a bounded backlog; past it they are dropped and reported, so a guest that never reads cannot
 * stall the switch or anyone on it. Each transmitted chain is parsed into a {@link NetTxRequest}
 * and given to the device's {@link NetHandler}.
 */
public final class NetDevice implements VirtioDevice, Injectable {
    static final int RECEIVEQ = 0, TRANSMITQ = 1;
    static final int BACKLOG = 256;
    private static final int QUEUE_SIZE = 256;

    private final byte[] mac;
    private final EthernetSwitch.Port port;
    private final ArrayBlockingQueue<byte[]> backlog = new ArrayBlockingQueue<>(BACKLOG);
    private volatile boolean linkUp = true;
    private volatile NetHandler handler = this::transmit;
    private volatile DeviceContext ctx;

    /** Joins {@code sw} now on a port of no guest; {@link #close()} leaves it. */
    public NetDevice(byte[] mac, EthernetSwitch sw) {
        this(mac, sw, p -> sw.join(p));
    }

    /**
     * Joins {@code sw} now as the port of {@code guest}'s device {@code device}, whose faults are
     * reported on {@code events}; {@link #close()} leaves it.
     */
    public NetDevice(byte[] mac, EthernetSwitch sw, String guest, String device, EventBus events) {
        this(mac, sw, p -> sw.join(guest, device, events, p));
    }

    private NetDevice(byte[] mac, EthernetSwitch sw, Function<Consumer<byte[]>, EthernetSwitch.Port> join) {
        if (mac.length != 6) throw new IllegalArgumentException("a MAC address is 6 bytes");
        this.mac = mac.clone();
        this.port = join.apply(this::arrive);
    }

    public byte[] mac() {
        return mac.clone();
    }

    public static byte[] parseMac(String text) {
        String[] parts = text.split(":");
        if (parts.length != 6) throw new IllegalArgumentException("MAC address must look like 52:54:00:12:34:56, not " + text);
        byte[] out = new byte[6];
        for (int i = 0; i < 6; i++) out[i] = (byte) Integer.parseInt(parts[i], 16);
        return out;
    }

    public static String formatMac(byte[] mac) {
        return HexFormat.ofDelimiter(":").formatHex(mac);
    }

    /** 52:54:00:xx:xx:xx, the locally administered prefix QEMU uses. */
    public static byte[] randomMac() {
        byte[] m = {0x52, 0x54, 0x00, 0, 0, 0};
        byte[] r = new byte[3];
        new SecureRandom().nextBytes(r);
        System.arraycopy(r, 0, m, 3, 3);
        return m;
    }

    /** The handler transmitted chains go to now; until {@link #setHandler} it is the device's own. */
    public NetHandler handler() {
        return handler;
    }

    /**
     * Sends the chains taken from now on to {@code h}, on a running device too. To wrap the
     * device's behaviour, keep {@link #handler()} and call it from {@code h}.
     */
    public void setHandler(NetHandler h) {
        handler = Objects.requireNonNull(h, "handler");
    }

    public void setLinkUp(boolean up) {
        linkUp = up;
        DeviceContext c = ctx;
        if (c != null) c.configChanged();
    }

    @Override
    public int type() {
        return DeviceType.NET;
    }

    @Override
    public long features() {
        return Features.RING_COMMON | Features.bit(F_MAC) | Features.bit(F_STATUS);
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public int maxQueueSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public byte[] config() {
        byte[] c = new byte[CONFIG_SIZE];
        System.arraycopy(mac, 0, c, CFG_MAC, 6);
        c[CFG_STATUS] = (byte) (linkUp ? S_LINK_UP : 0);
        return c;
    }

    @Override
    public void start(DeviceContext context) {
        backlog.clear();
        this.ctx = context;
    }

    /** A frame from the switch; one the device cannot take is dropped, as on a wire. */
    private void arrive(byte[] frame) {
        accept(frame);
    }

    @Override
    public int receiveQueue() {
        return RECEIVEQ;
    }

    /** A frame from the host, as if it came off the switch. */
    @Override
    public void inject(byte[] frame) {
        if (frame.length < 14 || frame.length > MAX_FRAME) {
            throw new IllegalArgumentException("an Ethernet frame is 14 to " + MAX_FRAME + " bytes (destination, source, type, payload), not "
                    + frame.length);
        }
        String refused = accept(frame.clone());
        if (refused != null) throw new IllegalStateException(refused);
    }

    /** Queues a frame for the receive queue; returns why it was dropped, or null. */
    private String accept(byte[] frame) {
        DeviceContext c = ctx;
        if (c == null) return "no driver has started the device yet"; // the wire is dead, as on real hardware
        if (!linkUp) return "the link is down";
        if (!backlog.offer(frame)) {
            String why = "rx backlog full (" + BACKLOG + " frames): the guest is not reading; frame dropped";
            c.warn(RECEIVEQ, why);
            return why;
        }
        c.wake(RECEIVEQ);
        return null;
    }

    @Override
    public void handle(int index) throws RingFault {
        DeviceContext c = ctx;
        if (c == null) return;
        if (index == TRANSMITQ) serveTransmit(c);
        else receive(c);
    }

    private void serveTransmit(DeviceContext c) throws RingFault {
        int hdr = headerSize(c.features());
        c.queue(TRANSMITQ).serveAll(chain -> handler.handle(NetTxRequest.parse(c.memory(), chain, hdr)));
        c.used(TRANSMITQ);
    }

    /** The device's own handler: a frame goes into the switch while the link is up. */
    private int transmit(NetTxRequest request) {
        switch (request) {
            case NetTxRequest.Frame f -> {
                if (linkUp) port.send(f.bytes());
            }
            case NetTxRequest.BadLength b -> {
                DeviceContext c = ctx;
                if (c != null) c.warn(TRANSMITQ, "guest sent a " + b.length() + "-byte frame; dropped");
            }
        }
        return 0;
    }

    private void receive(DeviceContext c) throws RingFault {
        DeviceQueue q = c.queue(RECEIVEQ);
        int hdr = headerSize(c.features());
        boolean any = false;
        while (!backlog.isEmpty()) {
            DescriptorChain chain = q.pop();
            if (chain == null) break; // no buffers: wait for the guest's next kick
            byte[] frame = backlog.poll();
            byte[] packet = new byte[hdr + frame.length]; // zero header: no offloads
            if (hdr == 12) packet[HDR_NUM_BUFFERS] = 1;
            System.arraycopy(frame, 0, packet, hdr, frame.length);
            if (chain.writableLength() < packet.length) {
                // Like QEMU without MRG_RXBUF: a buffer too small for the frame drops the frame;
                // the buffer goes back empty so the guest can repost it.
                c.warn(RECEIVEQ, "rx buffer of " + chain.writableLength() + " bytes too small for a "
                        + frame.length + "-byte frame; dropped");
                q.push(chain, 0);
            } else {
                q.push(chain, chain.writeBytes(c.memory(), 0, packet, 0, packet.length));
            }
            any = true;
        }
        if (any) c.used(RECEIVEQ);
    }

    @Override
    public void reset() {
        ctx = null;
        backlog.clear();
    }

    @Override
    public void close() {
        ctx = null;
        port.close();
    }
}

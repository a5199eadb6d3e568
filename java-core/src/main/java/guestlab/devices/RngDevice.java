package guestlab.devices;

import guestlab.virtio.Buffers;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.rng.EntropyRequest;

import java.security.SecureRandom;
import java.util.Objects;

/**
 * virtio-rng (virtio 1.x section 5.4): each request is parsed into an {@link EntropyRequest} and
 * given to the device's {@link RngHandler}, which by default fills it from SecureRandom.
 */
public final class RngDevice implements VirtioDevice {
    private static final int CHUNK = 64 * 1024;
    private final SecureRandom random;
    private volatile RngHandler handler = this::fill;
    private volatile DeviceContext ctx;

    public RngDevice() {
        this(new SecureRandom());
    }

    public RngDevice(SecureRandom random) {
        this.random = random;
    }

    /** The handler requests go to now; until {@link #setHandler} it is the device's own. */
    public RngHandler handler() {
        return handler;
    }

    /**
     * Sends the requests taken from now on to {@code h}, on a running device too. To wrap the
     * device's behaviour, keep {@link #handler()} and call it from {@code h}.
     */
    public void setHandler(RngHandler h) {
        handler = Objects.requireNonNull(h, "handler");
    }

    @Override
    public int type() {
        return DeviceType.RNG;
    }

    @Override
    public long features() {
        return Features.RING_COMMON;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int maxQueueSize(int index) {
        return 64;
    }

    @Override
    public byte[] config() {
        return new byte[0];
    }

    @Override
    public void start(DeviceContext context) {
        this.ctx = context;
    }

    @Override
    public void handle(int index) throws RingFault {
        DeviceContext c = ctx;
        if (c == null) return;
        c.queue(0).serveAll(chain -> handler.handle(EntropyRequest.parse(c.memory(), chain)));
        c.used(0);
    }

    /** The device's own handler: up to CHUNK bytes per request (5.4.6 lets it fill less than offered). */
    private int fill(EntropyRequest request) {
        int written = 0;
        Buffers b = request.buffers();
        for (int i = 0; i < b.count(); i++) {
            int n = Math.min(b.len(i), CHUNK - written);
            if (n == 0) break;
            byte[] bytes = new byte[n];
            random.nextBytes(bytes);
            request.memory().write(b.addr(i), bytes);
            written += n;
        }
        return written;
    }

    @Override
    public void reset() {
        ctx = null;
    }
}

package guestlab.devices;

import guestlab.virtio.Buffer;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;

import java.security.SecureRandom;

/** virtio-rng (virtio 1.x section 5.4): fills every writable buffer with bytes from SecureRandom. */
public final class RngDevice implements VirtioDevice {
    private static final int CHUNK = 64 * 1024;
    private final SecureRandom random;
    private volatile DeviceContext ctx;

    public RngDevice() {
        this(new SecureRandom());
    }

    public RngDevice(SecureRandom random) {
        this.random = random;
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
        c.queue(0).serveAll(chain -> {
            // Up to CHUNK bytes per request: the spec lets the device fill less than offered.
            int written = 0;
            for (Buffer b : chain.writable()) {
                int n = Math.min(b.len(), CHUNK - written);
                if (n == 0) break;
                byte[] bytes = new byte[n];
                random.nextBytes(bytes);
                c.memory().write(b.addr(), bytes);
                written += n;
            }
            return written;
        });
        c.used(0);
    }

    @Override
    public void reset() {
        ctx = null;
    }
}

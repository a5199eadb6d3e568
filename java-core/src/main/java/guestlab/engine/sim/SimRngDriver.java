package guestlab.engine.sim;

import guestlab.memory.GuestMemory;
import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/** The simulated guest's virtio-rng driver. */
public final class SimRngDriver extends SimDriver {
    private static final int MAX = 4096;
    private long buffer;

    SimRngDriver(String name, GuestMemory mem, GuestPages pages, DriverTransport transport, Duration timeout) {
        super(name, mem, pages, transport, timeout);
    }

    @Override
    long driverFeatures() {
        return 0;
    }

    @Override
    void started() {
        buffer = pages.allocate(MAX);
    }

    /** {@code n} bytes from the host's entropy source (several requests if the device gives less). */
    public synchronized byte[] read(int n) {
        byte[] out = new byte[n];
        int got = 0;
        while (got < n) {
            int want = Math.min(MAX, n - got);
            DriverQueue.Used u = roundTrip(0, List.of(), List.of(new Buffer(buffer, want)));
            int len = Math.min(u.len(), want);
            System.arraycopy(mem.read(buffer, len), 0, out, got, len);
            got += len;
            if (len == 0) return Arrays.copyOf(out, got);
        }
        return out;
    }
}

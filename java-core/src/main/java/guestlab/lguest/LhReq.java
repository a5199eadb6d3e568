package guestlab.lguest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The requests a launcher writes to /dev/lguest (enum lguest_req in lguest_launcher.h): the
 * first word is the request, the rest its arguments. Words are {@code unsigned long}, 4 bytes on
 * lguest's only architecture (32-bit x86), little-endian.
 */
public sealed interface LhReq {
    int LHREQ_INITIALIZE = 0, LHREQ_GETDMA = 1, LHREQ_IRQ = 2, LHREQ_BREAK = 3, LHREQ_EVENTFD = 4;
    int WORD = 4;

    /** LHREQ_INITIALIZE + base, pfnlimit, start: guest memory at launcher address base, pfnlimit pages, entry point. */
    record Initialize(long base, long pfnLimit, long start) implements LhReq {
        public long[] words() {
            return new long[] {LHREQ_INITIALIZE, base, pfnLimit, start};
        }
    }

    /**
     * The interrupts a guest has: lguest's LGUEST_IRQS, NR_VECTORS - FIRST_EXTERNAL_VECTOR on x86
     * (256 - 32); its /dev/lguest refuses an LHREQ_IRQ for any other with EINVAL.
     */
    int LGUEST_IRQS = 224;

    /** LHREQ_IRQ + irq: raise this interrupt in the guest. */
    record Irq(int irq) implements LhReq {
        public Irq {
            if (irq < 0 || irq >= LGUEST_IRQS) {
                throw new IllegalArgumentException("LHREQ_IRQ " + Integer.toUnsignedString(irq) + ": a guest has irqs 0 to "
                        + (LGUEST_IRQS - 1));
            }
        }

        public long[] words() {
            return new long[] {LHREQ_IRQ, irq};
        }
    }

    /** LHREQ_EVENTFD + address, fd: a guest notify of address signals fd (fd -1 removes it). */
    record EventFd(long address, int fd) implements LhReq {
        public long[] words() {
            return new long[] {LHREQ_EVENTFD, address, fd & 0xffffffffL};
        }
    }

    long[] words();

    default byte[] encode() {
        long[] w = words();
        ByteBuffer b = ByteBuffer.allocate(w.length * WORD).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : w) b.putInt((int) v);
        return b.array();
    }

    /** Parses what a launcher wrote; refuses the obsolete requests and malformed writes. */
    static LhReq decode(byte[] bytes) {
        if (bytes.length < WORD || bytes.length % WORD != 0) {
            throw new IllegalArgumentException("an lguest request is whole 4-byte words, got " + bytes.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long[] w = new long[bytes.length / WORD];
        for (int i = 0; i < w.length; i++) w[i] = Integer.toUnsignedLong(b.getInt());
        int req = (int) w[0];
        return switch (req) {
            case LHREQ_INITIALIZE -> {
                need(w, 4, "LHREQ_INITIALIZE needs base, pfnlimit, start");
                yield new Initialize(w[1], w[2], w[3]);
            }
            case LHREQ_IRQ -> {
                need(w, 2, "LHREQ_IRQ needs an irq");
                yield new Irq((int) w[1]);
            }
            case LHREQ_EVENTFD -> {
                need(w, 3, "LHREQ_EVENTFD needs an address and an fd");
                yield new EventFd(w[1], (int) w[2]);
            }
            case LHREQ_GETDMA -> throw new ObsoleteRequestException(
                    "LHREQ_GETDMA is obsolete: lguest dropped it when devices moved to virtio; refused");
            case LHREQ_BREAK -> throw new ObsoleteRequestException(
                    "LHREQ_BREAK is obsolete: lguest no longer uses it; refused");
            default -> throw new IllegalArgumentException("unknown lguest request " + Integer.toUnsignedString(req));
        };
    }

    private static void need(long[] w, int n, String what) {
        if (w.length != n) throw new IllegalArgumentException(what + " (" + (n - 1) + " words), got " + (w.length - 1));
    }

    /** A request lguest once had and then removed. */
    final class ObsoleteRequestException extends IllegalArgumentException {
        public ObsoleteRequestException(String message) {
            super(message);
        }
    }
}

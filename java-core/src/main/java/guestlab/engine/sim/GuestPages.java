package guestlab.engine.sim;

import guestlab.lguest.LguestRing;

/** The simulated guest kernel's page allocator: hands out page-aligned guest RAM, never frees. */
final class GuestPages {
    private final long limit;
    private long next;

    GuestPages(long start, long limit) {
        this.next = start;
        this.limit = limit;
    }

    synchronized long allocate(long bytes) {
        long pages = (bytes + LguestRing.PAGE_SIZE - 1) / LguestRing.PAGE_SIZE;
        long at = next;
        if (at + pages * LguestRing.PAGE_SIZE > limit) {
            throw new IllegalStateException("simulated guest is out of memory: " + bytes + " more bytes needed");
        }
        next += pages * LguestRing.PAGE_SIZE;
        return at;
    }
}

package guestlab.lguest;

import guestlab.virtio.VringLayout;

/** Rings on the lguest bus: the legacy contiguous layout aligned to LGUEST_VRING_ALIGN. */
public final class LguestRing {
    private LguestRing() {}

    /** lguest_launcher.h: "x86 pagesize for historical reasons". */
    public static final int LGUEST_VRING_ALIGN = 4096;
    public static final int PAGE_SIZE = 4096;

    /** The ring of {@code num} entries the guest placed at page {@code pfn}. */
    public static VringLayout at(long pfn, int num) {
        return VringLayout.contiguous(num, pfn * PAGE_SIZE, LGUEST_VRING_ALIGN);
    }

    /** Whole pages a ring of {@code num} entries needs. */
    public static int pages(int num) {
        return (int) ((VringLayout.contiguousBytes(num, LGUEST_VRING_ALIGN) + PAGE_SIZE - 1) / PAGE_SIZE);
    }
}

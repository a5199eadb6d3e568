package guestlab.virtio;

/** Feature bits every transport shares (virtio 1.x section 6), and bit helpers. */
public final class Features {
    private Features() {}

    /** Section 2.7.5.3: descriptors may point at a table of further descriptors. */
    public static final int RING_INDIRECT_DESC = 28;
    /** Section 2.7.7/2.7.10: used_event / avail_event fields suppress notifications. */
    public static final int RING_EVENT_IDX = 29;
    /** Section 6.1: the device follows virtio 1.x (little-endian, modern header layouts). */
    public static final int VERSION_1 = 32;

    /** What every guestlab device offers whatever its type: virtio 1.x rings with both extensions. */
    public static final long RING_COMMON = bit(VERSION_1) | bit(RING_EVENT_IDX) | bit(RING_INDIRECT_DESC);

    public static long bit(int n) {
        return 1L << n;
    }

    public static boolean has(long features, int n) {
        return (features & bit(n)) != 0;
    }
}

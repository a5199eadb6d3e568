package guestlab.virtio;

/**
 * Where a split virtqueue's three parts live in guest-physical memory, and the byte layout of
 * each (virtio 1.x section 2.7). Every offset, size and flag bit of the split ring is named here
 * and nowhere else; code reaches a field through the address methods ({@link #descriptor},
 * {@link #availSlot}, {@link #usedElement}, ...) instead of adding numbers to a base. All fields
 * are little-endian.
 *
 * <pre>
 * Descriptor table at desc, size entries (2.7.5); an indirect table has the same entries (2.7.5.3):
 *   0                8        12       14       16 = DESC_SIZE
 *   +----------------+--------+--------+--------+
 *   | addr           | len    | flags  | next   |
 *   +----------------+--------+--------+--------+
 *     le64             le32     le16     le16
 *
 * Avail ring at avail, written by the driver (2.7.6):
 *   0        2        4                                4 + 2*size
 *   +--------+--------+---------+-----+--------------+------------+
 *   | flags  | idx    | ring[0] | ... | ring[size-1] | used_event |
 *   +--------+--------+---------+-----+--------------+------------+
 *     le16     le16     le16 (a chain's head) each     le16, only with EVENT_IDX
 *
 * Used ring at used, written by the device (2.7.8):
 *   0        2        4                                4 + 8*size
 *   +--------+--------+---------+-----+--------------+-------------+
 *   | flags  | idx    | ring[0] | ... | ring[size-1] | avail_event |
 *   +--------+--------+---------+-----+--------------+-------------+
 *     le16     le16     {le32 id, le32 len} each       le16, only with EVENT_IDX
 * </pre>
 *
 * Ring indices (avail.idx, used.idx) run free modulo 2^16; entry {@code i} of a ring is slot
 * {@code i mod size} (2.7.6, 2.7.8), so the slot methods take the free-running index.
 */
public record VringLayout(int size, long desc, long avail, long used) {
    /** Queue Size is a power of 2 and at most 32768 (2.7). */
    public static final int MAX_SIZE = 32768;

    /** struct virtq_desc (2.7.5): its size and the offset of each field. */
    public static final int DESC_SIZE = 16, DESC_ADDR = 0, DESC_LEN = 8, DESC_FLAGS = 12, DESC_NEXT = 14;
    /** virtq_desc flags (2.7.5): the chain continues at next; device-writable; an indirect table (2.7.5.3). */
    public static final int DESC_F_NEXT = 1, DESC_F_WRITE = 2, DESC_F_INDIRECT = 4;

    /** struct virtq_avail (2.7.6): flags, idx, then ring[size] of le16 heads, then used_event. */
    public static final int AVAIL_FLAGS = 0, AVAIL_IDX = 2, AVAIL_RING = 4, AVAIL_ENTRY_SIZE = 2;
    /** avail.flags: the driver asks not to be interrupted (2.7.7). */
    public static final int AVAIL_F_NO_INTERRUPT = 1;

    /** struct virtq_used (2.7.8): flags, idx, then ring[size] of {le32 id, le32 len}, then avail_event. */
    public static final int USED_FLAGS = 0, USED_IDX = 2, USED_RING = 4, USED_ELEM_SIZE = 8,
            USED_ELEM_ID = 0, USED_ELEM_LEN = 4;
    /** used.flags: the device asks not to be notified (2.7.10). */
    public static final int USED_F_NO_NOTIFY = 1;

    /** used_event and avail_event are one le16 each, present only with VIRTIO_F_EVENT_IDX (2.7.10). */
    public static final int EVENT_FIELD_SIZE = 2;

    public VringLayout {
        if (size <= 0 || size > MAX_SIZE || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue size must be a power of 2 up to " + MAX_SIZE + ", not " + size);
        }
    }

    /** The legacy contiguous layout, vring_init(): desc, avail right after, used at the next {@code align}. */
    public static VringLayout contiguous(int size, long base, long align) {
        long avail = base + descBytes(size);
        long used = alignUp(avail + availBytes(size), align);
        return new VringLayout(size, base, avail, used);
    }

    /** Bytes a contiguous ring of {@code size} entries occupies with {@code align} (vring_size()). */
    public static long contiguousBytes(int size, long align) {
        return alignUp(descBytes(size) + availBytes(size), align) + usedBytes(size);
    }

    /** Descriptor {@code index} of a table at {@code table}: the ring's own or an indirect one (2.7.5.3). */
    public static long descriptorAt(long table, int index) {
        return table + (long) DESC_SIZE * index;
    }

    /** Descriptor {@code index} of this ring's table. */
    public long descriptor(int index) {
        return descriptorAt(desc, index);
    }

    /** avail.flags. */
    public long availFlags() {
        return avail + AVAIL_FLAGS;
    }

    /** avail.idx: the driver's next free-running avail index. */
    public long availIdx() {
        return avail + AVAIL_IDX;
    }

    /** The avail ring entry (a head) for free-running avail index {@code index}: ring[index mod size]. */
    public long availSlot(int index) {
        return avail + AVAIL_RING + (long) AVAIL_ENTRY_SIZE * slot(index);
    }

    /** used_event, after the avail ring: the driver's "interrupt me past this used index" (2.7.10). */
    public long usedEvent() {
        return avail + AVAIL_RING + (long) AVAIL_ENTRY_SIZE * size;
    }

    /** used.flags. */
    public long usedFlags() {
        return used + USED_FLAGS;
    }

    /** used.idx: the device's next free-running used index. */
    public long usedIdx() {
        return used + USED_IDX;
    }

    /** The used ring element {id, len} for free-running used index {@code index}: ring[index mod size]. */
    public long usedElement(int index) {
        return used + USED_RING + (long) USED_ELEM_SIZE * slot(index);
    }

    /** avail_event, after the used ring: the device's "notify me past this avail index" (2.7.10). */
    public long availEvent() {
        return used + USED_RING + (long) USED_ELEM_SIZE * size;
    }

    public long descBytes() {
        return descBytes(size);
    }

    /** The avail ring's bytes, used_event included. */
    public long availBytes() {
        return availBytes(size);
    }

    /** The used ring's bytes, avail_event included. */
    public long usedBytes() {
        return usedBytes(size);
    }

    private int slot(int index) {
        return index & (size - 1); // size is a power of 2: index mod size, for any int
    }

    private static long descBytes(int size) {
        return (long) DESC_SIZE * size;
    }

    private static long availBytes(int size) {
        return AVAIL_RING + (long) AVAIL_ENTRY_SIZE * size + EVENT_FIELD_SIZE;
    }

    private static long usedBytes(int size) {
        return USED_RING + (long) USED_ELEM_SIZE * size + EVENT_FIELD_SIZE;
    }

    static long alignUp(long v, long align) {
        return (v + align - 1) & -align;
    }
}

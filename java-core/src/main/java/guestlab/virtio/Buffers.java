package guestlab.virtio;

import java.util.Arrays;
import java.util.Objects;

/**
 * The buffers of one side of a descriptor chain, device-readable or device-writable, in chain
 * order (section 2.7.4.2): buffer {@code i} is {@link #len}{@code (i)} bytes at guest-physical
 * {@link #addr}{@code (i)}, inside guest memory. A queue refills the buffers of a chain object
 * for each chain it takes with the same head (see {@link DescriptorChain}): a view is valid while
 * its chain is in flight, and shows nothing of an earlier chain.
 */
public final class Buffers {
    private long[] addrs = new long[4];
    private int[] lens = new int[4];
    private int count;
    private long length;

    Buffers() {}

    void clear() {
        count = 0;
        length = 0;
    }

    void add(long addr, int len) {
        if (count == addrs.length) {
            addrs = Arrays.copyOf(addrs, count * 2);
            lens = Arrays.copyOf(lens, count * 2);
        }
        addrs[count] = addr;
        lens[count] = len;
        count++;
        length += len;
    }

    /** How many buffers there are. */
    public int count() {
        return count;
    }

    /** The guest-physical address of buffer {@code i}. */
    public long addr(int i) {
        return addrs[Objects.checkIndex(i, count)];
    }

    /** The length of buffer {@code i}. */
    public int len(int i) {
        return lens[Objects.checkIndex(i, count)];
    }

    /** How many bytes the buffers hold together. */
    public long length() {
        return length;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < count; i++) {
            if (i > 0) b.append(", ");
            b.append(String.format("0x%x+%d", addrs[i], lens[i]));
        }
        return b.append(']').toString();
    }
}

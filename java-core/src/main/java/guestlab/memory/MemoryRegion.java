package guestlab.memory;

import java.lang.foreign.MemorySegment;

/**
 * One contiguous piece of guest-physical address space, backed by host memory.
 * {@code segment} covers exactly {@code size} bytes starting at guest-physical {@code base}.
 */
record MemoryRegion(long base, long size, MemorySegment segment) {
    public MemoryRegion {
        if (base < 0 || size <= 0 || segment.byteSize() != size) {
            throw new IllegalArgumentException("bad region base=" + base + " size=" + size
                    + " segment=" + segment.byteSize());
        }
    }

    public long end() {
        return base + size;
    }

    public boolean contains(long gpa, long len) {
        return gpa >= base && len >= 0 && gpa - base <= size - len;
    }
}

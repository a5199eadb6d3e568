package guestlab.lguest;

import guestlab.memory.GuestMemory;

import java.util.ArrayList;
import java.util.List;

/**
 * The lguest device page "just above the top of physical memory" (lguest_launcher.h, D:010):
 * device descriptors one after another, a type-0 byte ending the list. The launcher writes it;
 * the guest reads it and writes status, guest features, vq pfns and config back into it.
 */
public final class DevicePage {
    private final GuestMemory mem;
    private final long base;
    private final int size;
    private int used;

    /** @param base guest-physical address of the page (pfnlimit * 4096) */
    public DevicePage(GuestMemory mem, long base, int size) {
        if (!mem.contains(base, size)) throw new IllegalArgumentException("device page is not backed by memory");
        this.mem = mem;
        this.base = base;
        this.size = size;
        mem.clear(base, size);
    }

    public long base() {
        return base;
    }

    public int size() {
        return size;
    }

    /** Appends a descriptor; returns its guest-physical address. The terminator byte must still fit. */
    public long add(LguestDeviceDesc desc) {
        byte[] bytes = desc.encode();
        if (used + bytes.length + 1 > size) {
            throw new IllegalStateException("lguest device page full: " + bytes.length + " more bytes do not fit in "
                    + (size - used - 1));
        }
        long at = base + used;
        mem.write(at, bytes);
        used += bytes.length;
        mem.writeU8(base + used, 0);
        return at;
    }

    /** Whether {@code address} is inside this page (a status notify lands here). */
    public boolean contains(long address) {
        return address >= base && address < base + size;
    }

    /** Walks the page from the start as a guest does (lguest_devices_init / scan_devices). */
    public static List<Long> scan(GuestMemory mem, long base, int size) {
        byte[] page = mem.read(base, size);
        List<Long> found = new ArrayList<>();
        int off = 0;
        LguestDeviceDesc d;
        while ((d = LguestDeviceDesc.decode(page, off)) != null) {
            found.add(base + off);
            off += d.size();
        }
        return found;
    }
}

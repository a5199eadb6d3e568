package guestlab.lguest;

import guestlab.memory.GuestMemory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The lguest device page "just above the top of physical memory" (lguest_launcher.h, D:010):
 * device descriptors one after another, a type-0 byte ending the list. The launcher writes it;
 * the guest reads it and writes status, guest features, vq pfns and config back into it. A device
 * added while the guest runs goes where the terminator was; one removed keeps its place, its type
 * byte {@link LguestDeviceDesc#TYPE_REMOVED} (guestlab's extension).
 */
public final class DevicePage {
    private final GuestMemory mem;
    private final long base;
    private final int size;
    /** Bytes of descriptors so far: the terminator is at base + used. Guarded by this. */
    private int used;
    /** The descriptors added and not removed. Guarded by this. */
    private final Set<Long> present = new HashSet<>();

    /** What a walk of the page found: the devices' descriptors in page order, and the address of the type-0 byte that ended it. */
    public record Walk(List<Long> devices, long end) {
        public Walk {
            devices = List.copyOf(devices);
        }
    }

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

    /**
     * Appends a descriptor where the terminator was and writes the terminator after it; returns
     * its guest-physical address. If the descriptor and the terminator do not fit, nothing is
     * written and the error says how many bytes are missing.
     */
    public synchronized long add(LguestDeviceDesc desc) {
        byte[] bytes = desc.encode();
        int free = size - used;
        if (bytes.length + 1 > free) {
            throw new IllegalStateException("the lguest device page is full: a descriptor of " + bytes.length
                    + " bytes and the type-0 terminator need " + (bytes.length + 1) + ", " + free + " of its " + size
                    + " bytes are free: " + (bytes.length + 1 - free) + " bytes missing");
        }
        long at = base + used;
        mem.write(at, bytes);
        used += bytes.length;
        mem.writeU8(base + used, 0);
        present.add(at);
        return at;
    }

    /**
     * Marks the descriptor at {@code at} removed: its type byte becomes
     * {@link LguestDeviceDesc#TYPE_REMOVED}, every other byte of it stays, so later descriptors
     * keep their offsets.
     */
    public synchronized void remove(long at) {
        if (!present.remove(at)) {
            throw new IllegalArgumentException(String.format("no device descriptor at 0x%x in the device page", at));
        }
        mem.writeU8(at + LguestDeviceDesc.TYPE_OFFSET, LguestDeviceDesc.TYPE_REMOVED);
    }

    /** Whether {@code address} is inside this page (a status notify lands here). */
    public boolean contains(long address) {
        return address >= base && address < base + size;
    }

    /** Walks the page from the start as a guest does at boot; see {@link #walk}. */
    public static List<Long> scan(GuestMemory mem, long base, int size) {
        return walk(mem, base, size, base).devices();
    }

    /**
     * Walks the page as a guest does (lguest_devices_init / scan_devices: each descriptor's size
     * says where the next starts, type 0 ends the list) from {@code from}: the page's base, or
     * where an earlier walk ended, to find only the devices added since. Removed descriptors are
     * stepped over, not listed.
     */
    public static Walk walk(GuestMemory mem, long base, int size, long from) {
        if (from < base || from > base + size) {
            throw new IllegalArgumentException(String.format("a walk of the device page at 0x%x starts inside it, not at 0x%x", base, from));
        }
        byte[] page = mem.read(base, size);
        List<Long> found = new ArrayList<>();
        int off = (int) (from - base);
        LguestDeviceDesc d;
        while ((d = LguestDeviceDesc.decode(page, off)) != null) {
            if (d.type() != LguestDeviceDesc.TYPE_REMOVED) found.add(base + off);
            off += d.size();
        }
        return new Walk(found, base + off);
    }
}

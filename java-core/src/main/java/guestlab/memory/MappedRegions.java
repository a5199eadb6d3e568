package guestlab.memory;

import guestlab.posix.Libc;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Guest RAM that another process owns and shares with us by file descriptor (vhost-user's
 * SET_MEM_TABLE): each region is mmapped from its fd; the mappings and fds are released with the
 * memory. Also translates the front-end's own virtual addresses, in which vring addresses come.
 */
public final class MappedRegions extends GuestMemory {
    /** One region as the front-end describes it. */
    public record Region(long guestPhys, long size, long userAddr, long mmapOffset, int fd) {}

    private static final long PAGE = 4096;

    private final List<Region> described;

    private MappedRegions(List<MemoryRegion> regions, List<Region> described, Arena arena, String whenClosed) {
        super(regions, arena, () -> described.forEach(r -> Libc.close(r.fd())), whenClosed);
        this.described = List.copyOf(described);
    }

    /**
     * Checks and maps every region. Takes ownership of the fds: they are closed exactly once,
     * here if anything fails, else when the memory is closed. A region is refused unless its
     * numbers add up without overflow, its offset is page-aligned, its fd is a regular file
     * (a memfd) at least {@code mmapOffset + size} long (a mapping past the end of the file
     * would fault on first touch, SIGBUS), and no two regions overlap in guest-physical or
     * front-end virtual addresses.
     *
     * @param whenClosed what an access after {@link #close()} is told
     */
    public static MappedRegions map(List<Region> regions, String whenClosed) {
        Arena arena = Arena.ofShared();
        try {
            check(regions);
            List<MemoryRegion> mapped = new ArrayList<>();
            for (Region r : regions) {
                mapped.add(new MemoryRegion(r.guestPhys(), r.size(), Libc.mmapShared(r.fd(), r.size(), r.mmapOffset(), arena)));
            }
            return new MappedRegions(mapped, regions, arena, whenClosed);
        } catch (RuntimeException e) {
            arena.close();
            for (Region r : regions) {
                try {
                    Libc.close(r.fd());
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static void check(List<Region> regions) {
        for (Region r : regions) {
            String which = String.format("region at guest 0x%x", r.guestPhys());
            if (r.size() <= 0) throw new IllegalArgumentException(which + ": size " + Long.toUnsignedString(r.size()));
            if (r.guestPhys() < 0 || r.guestPhys() + r.size() < 0) {
                throw new IllegalArgumentException(which + String.format(": 0x%x bytes run past the end of the address space", r.size()));
            }
            if (r.userAddr() != 0 && Long.compareUnsigned(r.size(), -r.userAddr()) > 0) {
                throw new IllegalArgumentException(which + String.format(": user address 0x%x + 0x%x wraps", r.userAddr(), r.size()));
            }
            if (r.mmapOffset() < 0 || r.mmapOffset() % PAGE != 0 || r.mmapOffset() + r.size() < 0) {
                throw new IllegalArgumentException(which + ": mmap offset " + Long.toUnsignedString(r.mmapOffset())
                        + " is not a page-aligned offset");
            }
            Libc.FileStatus st = Libc.fstat(r.fd());
            if (!st.isRegularFile()) throw new IllegalArgumentException(which + ": its fd is not a memory file");
            if (r.mmapOffset() + r.size() > st.size()) {
                throw new IllegalArgumentException(which + String.format(
                        ": offset 0x%x + size 0x%x is past the end of its file (0x%x bytes)", r.mmapOffset(), r.size(), st.size()));
            }
        }
        List<Region> byGuest = new ArrayList<>(regions);
        byGuest.sort(Comparator.comparingLong(Region::guestPhys));
        for (int i = 1; i < byGuest.size(); i++) {
            Region a = byGuest.get(i - 1), b = byGuest.get(i);
            if (b.guestPhys() < a.guestPhys() + a.size()) {
                throw new IllegalArgumentException(String.format("regions at guest 0x%x and 0x%x overlap", a.guestPhys(), b.guestPhys()));
            }
        }
        List<Region> byUser = new ArrayList<>(regions);
        byUser.sort((a, b) -> Long.compareUnsigned(a.userAddr(), b.userAddr()));
        for (int i = 1; i < byUser.size(); i++) {
            Region a = byUser.get(i - 1), b = byUser.get(i);
            if (Long.compareUnsigned(b.userAddr() - a.userAddr(), a.size()) < 0) {
                throw new IllegalArgumentException(String.format("regions at user addresses 0x%x and 0x%x overlap",
                        a.userAddr(), b.userAddr()));
            }
        }
    }

    /** The guest-physical address of front-end virtual address {@code va}, or -1 if no region holds it. */
    public long guestPhysOf(long va) {
        for (Region r : described) {
            if (Long.compareUnsigned(va - r.userAddr(), r.size()) < 0) return r.guestPhys() + (va - r.userAddr());
        }
        return -1;
    }
}

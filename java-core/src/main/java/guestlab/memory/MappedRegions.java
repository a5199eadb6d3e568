package guestlab.memory;

import guestlab.posix.Libc;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest RAM that another process owns and shares with us by file descriptor (vhost-user's
 * SET_MEM_TABLE): each region is mmapped from its fd; the mappings and fds are released with the
 * memory. Also translates the front-end's own virtual addresses, in which vring addresses come.
 */
public final class MappedRegions extends GuestMemory {
    /** One region as the front-end describes it. */
    public record Region(long guestPhys, long size, long userAddr, long mmapOffset, int fd) {}

    private final List<Region> described;

    private MappedRegions(List<MemoryRegion> regions, List<Region> described, AutoCloseable owner) {
        super(regions, owner);
        this.described = List.copyOf(described);
    }

    /** Maps every region; takes ownership of the fds (closed here even if mapping fails). */
    public static MappedRegions map(List<Region> regions) {
        List<MemorySegment> mappings = new ArrayList<>();
        List<MemoryRegion> mapped = new ArrayList<>();
        AutoCloseable release = () -> {
            mappings.forEach(Libc::munmap);
            regions.forEach(r -> Libc.close(r.fd()));
        };
        try {
            for (Region r : regions) {
                MemorySegment m = Libc.mmapShared(r.fd(), r.size(), r.mmapOffset());
                mappings.add(m);
                mapped.add(new MemoryRegion(r.guestPhys(), r.size(), m));
            }
            return new MappedRegions(mapped, regions, release);
        } catch (RuntimeException e) {
            try {
                release.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The guest-physical address of front-end virtual address {@code va}, or -1 if no region holds it. */
    public long guestPhysOf(long va) {
        for (Region r : described) {
            if (va >= r.userAddr() && va - r.userAddr() < r.size()) return r.guestPhys() + (va - r.userAddr());
        }
        return -1;
    }
}

package guestlab.memory;

import guestlab.posix.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Guest RAM in a memfd, mapped shared: one region at guest-physical 0. The fd can be handed to
 * another process (QEMU, a vhost-user peer) so both see the same pages.
 */
public final class MemfdMemory extends GuestMemory {
    private final int fd;

    private MemfdMemory(int fd, MemorySegment mapping, Arena arena, String whenClosed) {
        super(List.of(new MemoryRegion(0, mapping.byteSize(), mapping)), arena, () -> Libc.close(fd), whenClosed);
        this.fd = fd;
    }

    /** @param size bytes, a multiple of 4096 */
    public static MemfdMemory allocate(String name, long size) {
        return allocate(name, size, "guest memory " + name + " is released");
    }

    /**
     * @param size       bytes, a multiple of 4096
     * @param whenClosed what an access after {@link #close()} is told, e.g. "guest a is stopped"
     */
    public static MemfdMemory allocate(String name, long size, String whenClosed) {
        if (size <= 0 || size % 4096 != 0) {
            throw new IllegalArgumentException("guest memory size must be a positive multiple of 4096, not " + size);
        }
        int fd = Libc.memfdCreate(name);
        Arena arena = Arena.ofShared();
        try {
            Libc.ftruncate(fd, size);
            return new MemfdMemory(fd, Libc.mmapShared(fd, size, 0, arena), arena, whenClosed);
        } catch (RuntimeException e) {
            arena.close();
            Libc.close(fd);
            throw e;
        }
    }

    public int fd() {
        return fd;
    }
}

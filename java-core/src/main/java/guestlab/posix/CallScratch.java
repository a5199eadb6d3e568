package guestlab.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Each thread's native scratch for the libc calls a device thread makes per request (poll and read
 * of its kick eventfd, write of a call eventfd, fsync, preadv/pwritev, cachestat): the errno
 * capture state, one {@code struct pollfd}, one 8-byte word and cachestat's two structs. Owned by
 * its thread and freed by the collector once the thread is gone, so those calls allocate nothing,
 * neither on the heap nor natively. A thread makes one libc call at a time, so the pieces are never
 * in use twice at once.
 */
final class CallScratch {
    private static final ThreadLocal<CallScratch> MINE = ThreadLocal.withInitial(CallScratch::new);
    private static final long STATE_BYTES = (Libc.CALL_STATE.byteSize() + 7) & ~7L;

    /** For {@code Linker.Option.captureCallState("errno")}. */
    final MemorySegment state;
    /** {@code struct pollfd {int fd; short events; short revents}}. */
    final MemorySegment pollfd;
    /** An eventfd's 8-byte counter, read or written. */
    final MemorySegment word;
    /** cachestat(2)'s {@code struct cachestat_range {u64 off, len}} and its {@code struct cachestat} (five u64s). */
    final MemorySegment cacheRange, cacheStat;

    private CallScratch() {
        MemorySegment all = Arena.ofAuto().allocate(STATE_BYTES + 16 + 16 + 40, 8);
        state = all.asSlice(0, Libc.CALL_STATE.byteSize());
        pollfd = all.asSlice(STATE_BYTES, 8);
        word = all.asSlice(STATE_BYTES + 8, 8);
        cacheRange = all.asSlice(STATE_BYTES + 16, 16);
        cacheStat = all.asSlice(STATE_BYTES + 32, 40);
    }

    /** The calling thread's scratch. */
    static CallScratch mine() {
        return MINE.get();
    }
}

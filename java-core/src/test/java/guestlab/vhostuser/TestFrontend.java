package guestlab.vhostuser;

import guestlab.memory.MemfdMemory;
import guestlab.posix.EventFd;
import guestlab.posix.UnixSocket;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.VringLayout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

import static guestlab.vhostuser.VhostUserProtocol.*;

/**
 * A vhost-user front-end written for the tests: it shares a memfd as guest RAM (mapped at a
 * made-up "user address" so translation is exercised), sets up rings and drives them with
 * guestlab's own driver side, the way QEMU would.
 */
final class TestFrontend implements AutoCloseable {
    static final long USER_BASE = 0x7f0000000000L; // our pretend virtual address of guest RAM
    private static final int REPLY_MILLIS = 10_000;
    final MemfdMemory mem = MemfdMemory.allocate("frontend", 4 << 20);
    final UnixSocket socket;

    TestFrontend(Path path) {
        socket = UnixSocket.connect(path);
    }

    void send(int request, byte[] payload, List<Integer> fds) {
        send(request, 0, payload, fds);
    }

    void send(int request, int extraFlags, byte[] payload, List<Integer> fds) {
        VhostUserMessage.send(socket, request, extraFlags, payload, fds);
    }

    /** Reads a reply's payload; a back-end that does not answer within 10 s fails the test. */
    ByteBuffer reply(int request) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment h = arena.allocate(HEADER_SIZE);
            if (!socket.readFully(h, REPLY_MILLIS)) throw new AssertionError("back-end closed the connection");
            ByteBuffer hb = h.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            if (hb.getInt(0) != request || (hb.getInt(4) & FLAG_REPLY) == 0) {
                throw new AssertionError("unexpected reply header " + hb.getInt(0) + "/" + hb.getInt(4));
            }
            MemorySegment body = arena.allocate(Math.max(1, hb.getInt(8)));
            if (hb.getInt(8) > 0 && !socket.readFully(body.asSlice(0, hb.getInt(8)), REPLY_MILLIS)) throw new AssertionError("closed");
            return ByteBuffer.wrap(body.asSlice(0, hb.getInt(8)).toArray(ValueLayout.JAVA_BYTE)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("no reply to request " + request + ": " + e.getMessage());
        }
    }

    long getU64(int request) {
        send(request, new byte[0], List.of());
        return reply(request).getLong(0);
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static byte[] state(int index, int num) {
        return VhostUserMessage.vringState(index, num);
    }

    void setMemTable() {
        ByteBuffer b = ByteBuffer.allocate(8 + 32).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(1).putInt(0).putLong(0).putLong(mem.limit()).putLong(USER_BASE).putLong(0);
        send(SET_MEM_TABLE, b.array(), List.of(mem.fd()));
    }

    void setAddr(int index, VringLayout ring) {
        setAddr(index, USER_BASE + ring.desc(), USER_BASE + ring.used(), USER_BASE + ring.avail());
    }

    void setAddr(int index, long desc, long used, long avail) {
        ByteBuffer b = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(index).putInt(0).putLong(desc).putLong(used).putLong(avail).putLong(0);
        send(SET_VRING_ADDR, b.array(), List.of());
    }

    /** A ring the back-end will serve, as QEMU sets one up (protocol features negotiated). */
    record Ring(DriverQueue driver, EventFd kick, EventFd call) implements AutoCloseable {
        @Override
        public void close() {
            kick.close();
            call.close();
        }
    }

    Ring ring(int index, long ringBase, int size, long features) {
        VringLayout layout = VringLayout.contiguous(size, ringBase, 4096);
        DriverQueue driver = new DriverQueue(mem, layout, features);
        EventFd kick = EventFd.create(), call = EventFd.create();
        send(SET_VRING_NUM, state(index, size), List.of());
        send(SET_VRING_BASE, state(index, 0), List.of());
        setAddr(index, layout);
        send(SET_VRING_CALL, u64(index), List.of(call.fd()));
        send(SET_VRING_KICK, u64(index), List.of(kick.fd()));
        send(SET_VRING_ENABLE, state(index, 1), List.of());
        return new Ring(driver, kick, call);
    }

    /** Features handshake: everything offered but the protocol bit's side effects are kept. */
    long negotiate() {
        long offered = getU64(GET_FEATURES);
        long protocol = getU64(GET_PROTOCOL_FEATURES);
        send(SET_PROTOCOL_FEATURES, u64(protocol), List.of());
        send(SET_FEATURES, u64(offered), List.of());
        send(SET_OWNER, new byte[0], List.of());
        return offered;
    }

    @Override
    public void close() {
        socket.close();
        mem.close();
    }
}

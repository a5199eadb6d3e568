package guestlab.vhostuser;

import guestlab.posix.Libc;
import guestlab.posix.UnixSocket;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static guestlab.vhostuser.VhostUserProtocol.*;

/**
 * One vhost-user message: request, flags, little-endian payload, and the fds that came with it.
 * The message owns its fds until a handler {@link #takeFds() takes} them; whatever is left is
 * closed by {@link #closeUntakenFds()}, so every fd is closed exactly once.
 */
final class VhostUserMessage {
    private final int request;
    private final int flags;
    private final ByteBuffer payload;
    private final List<Integer> fds;

    private VhostUserMessage(int request, int flags, ByteBuffer payload, List<Integer> fds) {
        this.request = request;
        this.flags = flags;
        this.payload = payload;
        this.fds = new ArrayList<>(fds);
    }

    /** A front-end broke the protocol; the connection is dropped and the reason reported. */
    static final class ProtocolError extends Exception {
        ProtocolError(String message) {
            super(message);
        }
    }

    int request() {
        return request;
    }

    ByteBuffer payload() {
        return payload;
    }

    /** The fds still owned by the message (read-only view). */
    List<Integer> fds() {
        return List.copyOf(fds);
    }

    /** The fds, now the caller's to close. */
    List<Integer> takeFds() {
        List<Integer> taken = List.copyOf(fds);
        fds.clear();
        return taken;
    }

    void closeUntakenFds() {
        fds.forEach(Libc::close);
        fds.clear();
    }

    /** Whether this is a back-end's reply (the front-end's side reads these). */
    boolean isReply() {
        return (flags & FLAG_REPLY) != 0;
    }

    boolean needsReply() {
        return (flags & FLAG_NEED_REPLY) != 0;
    }

    /**
     * Reads the next message, or returns null when the front-end has gone.
     *
     * @param firstByteMillis how long the front-end may stay silent before the message starts
     *                        (-1: forever, as a set-up front-end may)
     * @param stallMillis     how long it may pause once the message has started
     * @throws ProtocolError on a malformed header, or silence past either limit
     */
    static VhostUserMessage read(UnixSocket socket, int firstByteMillis, int stallMillis) throws ProtocolError {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment header = arena.allocate(HEADER_SIZE);
            if (!socket.awaitReadable(firstByteMillis)) {
                throw new ProtocolError("the front-end sent nothing for " + firstByteMillis + " ms after connecting");
            }
            UnixSocket.Received first = socket.receive(header);
            if (first.length() == 0) {
                first.fds().forEach(Libc::close);
                return null;
            }
            List<Integer> fds = first.fds();
            boolean whole = false;
            try {
                if (first.length() < HEADER_SIZE && !readFully(socket, header.asSlice(first.length()), stallMillis)) return null;
                ByteBuffer h = header.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                int request = h.getInt(0), flags = h.getInt(4), size = h.getInt(8);
                if ((flags & 0x3) != VERSION) throw new ProtocolError("unsupported vhost-user version " + (flags & 0x3));
                if (size < 0 || size > MAX_PAYLOAD) throw new ProtocolError(name(request) + " payload of " + size + " bytes");
                MemorySegment body = arena.allocate(Math.max(size, 1));
                if (size > 0 && !readFully(socket, body.asSlice(0, size), stallMillis)) return null;
                ByteBuffer payload = ByteBuffer.wrap(body.asSlice(0, size).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                        .order(ByteOrder.LITTLE_ENDIAN);
                whole = true;
                return new VhostUserMessage(request, flags, payload, fds);
            } finally {
                // A message cut short (the front-end went, or broke the protocol) never owned its fds.
                if (!whole) fds.forEach(Libc::close);
            }
        }
    }

    /**
     * The rest of a started message (fds belong to its first byte only: any later ones are
     * closed); a front-end that stalls past {@code stallMillis} has broken the protocol.
     */
    private static boolean readFully(UnixSocket socket, MemorySegment buf, int stallMillis) throws ProtocolError {
        try {
            return socket.readFully(buf, stallMillis);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new ProtocolError("the front-end stopped for " + stallMillis + " ms in the middle of a message");
        }
    }

    /** Sends a reply to {@code request} with {@code payload}. */
    static void reply(UnixSocket socket, int request, byte[] payload) {
        send(socket, request, FLAG_REPLY, payload, List.of());
    }

    /** Sends a message {header: request, VERSION | flags, size; payload} with {@code fds} attached. */
    static void send(UnixSocket socket, int request, int flags, byte[] payload, List<Integer> fds) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(HEADER_SIZE + payload.length);
            ByteBuffer b = m.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(request).putInt(VERSION | flags).putInt(payload.length).put(payload);
            socket.send(m, fds);
        }
    }

    /** struct vhost_vring_state {u32 index; u32 num}: SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE's reply. */
    static byte[] vringState(int index, int num) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(num).array();
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    /** The payload must be at least {@code n} bytes. */
    ByteBuffer need(int n) throws ProtocolError {
        if (payload.limit() < n) {
            throw new ProtocolError(name(request) + " payload of " + payload.limit() + " bytes, needs " + n);
        }
        return payload;
    }
}

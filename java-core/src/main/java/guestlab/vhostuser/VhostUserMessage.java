package guestlab.vhostuser;

import guestlab.posix.Libc;
import guestlab.posix.UnixSocket;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static guestlab.vhostuser.VhostUserProtocol.*;

/** One vhost-user message: request, flags, little-endian payload, and the fds that came with it. */
record VhostUserMessage(int request, int flags, ByteBuffer payload, List<Integer> fds) {

    /** A front-end broke the protocol; the connection is dropped and the reason reported. */
    static final class ProtocolError extends Exception {
        ProtocolError(String message) {
            super(message);
        }
    }

    boolean needsReply() {
        return (flags & FLAG_NEED_REPLY) != 0;
    }

    /** Reads the next message, or returns null when the front-end has gone. */
    static VhostUserMessage read(UnixSocket socket) throws ProtocolError {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment header = arena.allocate(HEADER_SIZE);
            UnixSocket.Received first = socket.receive(header);
            if (first.length() == 0) return null;
            List<Integer> fds = first.fds();
            try {
                if (first.length() < HEADER_SIZE && !socket.readFully(header.asSlice(first.length()))) return null;
                ByteBuffer h = header.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                int request = h.getInt(0), flags = h.getInt(4), size = h.getInt(8);
                if ((flags & 0x3) != VERSION) throw new ProtocolError("unsupported vhost-user version " + (flags & 0x3));
                if (size < 0 || size > MAX_PAYLOAD) throw new ProtocolError(name(request) + " payload of " + size + " bytes");
                MemorySegment body = arena.allocate(Math.max(size, 1));
                if (size > 0 && !socket.readFully(body.asSlice(0, size))) return null;
                ByteBuffer payload = ByteBuffer.wrap(body.asSlice(0, size).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                        .order(ByteOrder.LITTLE_ENDIAN);
                return new VhostUserMessage(request, flags, payload, fds);
            } catch (ProtocolError | RuntimeException e) {
                fds.forEach(Libc::close);
                throw e;
            }
        }
    }

    /** Sends a reply to {@code request} with {@code payload}. */
    static void reply(UnixSocket socket, int request, byte[] payload) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(HEADER_SIZE + payload.length);
            ByteBuffer b = m.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(request).putInt(VERSION | FLAG_REPLY).putInt(payload.length).put(payload);
            socket.writeFully(m);
        }
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

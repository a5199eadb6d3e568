package guestlab.vhostuser;

import guestlab.posix.EventFd;
import guestlab.posix.PosixException;
import guestlab.posix.PosixFile;
import guestlab.posix.UnixSocket;
import guestlab.virtio.Features;
import guestlab.virtio.VringLayout;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

import static guestlab.vhostuser.VhostUserProtocol.*;

/**
 * The front-end side of vhost-user, as QEMU speaks it, for a driver in this JVM: it shares guest
 * memory (one memfd, addressed identically by guest-physical and "user" address), negotiates
 * features, and hands each ring's addresses and its kick, call and error eventfds to any back-end:
 * guestlab's own, qemu-storage-daemon, a vhost-device daemon. One thread uses it at a time.
 */
public final class VhostUserFrontend implements AutoCloseable {
    /** How long a back-end may take to answer a request. */
    private static final int REPLY_MILLIS = 10_000;
    /** How long a socket that refuses connections may take to start listening. */
    private static final long LISTEN_WAIT_NANOS = 1_000_000_000L;
    private static final int ECONNREFUSED = 111;

    private final Path path;
    private final UnixSocket socket;
    /** What the back-end offers (GET_FEATURES), asked once at connect. */
    private long offered;
    private long protocolFeatures;

    private VhostUserFrontend(Path path, UnixSocket socket) {
        this.path = path;
        this.socket = socket;
    }

    /** Connects to the back-end listening on {@code socket}, takes ownership of it (SET_OWNER) and asks its features. */
    public static VhostUserFrontend connect(Path socket) throws IOException {
        UnixSocket s = null;
        // A back-end's socket file exists from bind(2) on, a moment before it listens: a back-end
        // started just now (in the background, by a script) refuses for that moment. One that finds
        // a stale file there deletes it before it binds: once a file has refused, a missing file is
        // that moment too, not a wrong path.
        boolean refused = false;
        for (long deadline = System.nanoTime() + LISTEN_WAIT_NANOS; s == null; ) {
            try {
                s = UnixSocket.connect(socket);
            } catch (PosixException e) {
                refused |= e.errno() == ECONNREFUSED;
                boolean starting = e.errno() == ECONNREFUSED || (refused && e.errno() == PosixFile.ENOENT);
                if (!starting || System.nanoTime() > deadline) {
                    throw new IOException("no vhost-user back-end on " + socket + ": " + e.getMessage(), e);
                }
                LockSupport.parkNanos(20_000_000);
            } catch (RuntimeException e) {
                throw new IOException("no vhost-user back-end on " + socket + ": " + e.getMessage(), e);
            }
        }
        VhostUserFrontend f = new VhostUserFrontend(socket, s);
        try {
            f.send(SET_OWNER, new byte[0], List.of());
            f.offered = f.ask(GET_FEATURES, new byte[0]).getLong(0);
        } catch (IOException e) {
            f.close();
            throw e;
        }
        return f;
    }

    /** The device's features as the back-end offers them, the protocol bit left out. */
    public long deviceFeatures() {
        return offered & ~Features.bit(F_PROTOCOL_FEATURES);
    }

    /** VHOST_USER_F_PROTOCOL_FEATURES is offered, so it is negotiated: rings then start only when enabled. */
    private boolean protocol() {
        return Features.has(offered, F_PROTOCOL_FEATURES);
    }

    /**
     * Agrees on {@code features} (SET_FEATURES), and on the protocol features this front-end
     * uses where the back-end offers them: MQ and CONFIG, and nothing that changes the replies.
     */
    public void negotiate(long features) throws IOException {
        if (protocol()) {
            long wanted = Features.bit(PROTOCOL_F_MQ) | Features.bit(PROTOCOL_F_CONFIG);
            protocolFeatures = ask(GET_PROTOCOL_FEATURES, new byte[0]).getLong(0) & wanted;
            send(SET_PROTOCOL_FEATURES, VhostUserMessage.u64(protocolFeatures), List.of());
            features |= Features.bit(F_PROTOCOL_FEATURES);
        }
        send(SET_FEATURES, VhostUserMessage.u64(features), List.of());
    }

    /** The device's config space (GET_CONFIG), or {@code size} zero bytes if the back-end has no CONFIG. */
    public byte[] config(int size) throws IOException {
        if (!Features.has(protocolFeatures, PROTOCOL_F_CONFIG)) return new byte[size];
        ByteBuffer req = ByteBuffer.allocate(12 + size).order(ByteOrder.LITTLE_ENDIAN).putInt(0).putInt(size).putInt(0);
        ByteBuffer reply = ask(GET_CONFIG, req.array());
        if (reply.limit() < 12 + size) throw new IOException(path + ": GET_CONFIG answered " + reply.limit() + " bytes");
        return Arrays.copyOfRange(reply.array(), 12, 12 + size);
    }

    /** SET_MEM_TABLE: guest memory is the memfd {@code fd}, {@code size} bytes at guest-physical 0. */
    public void shareMemory(int fd, long size) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + 32).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(1).putInt(0).putLong(0).putLong(size).putLong(0).putLong(0); // gpa, size, user address = gpa, offset
        send(SET_MEM_TABLE, b.array(), List.of(fd));
    }

    /**
     * Starts ring {@code index} at {@code ring} from avail index 0: doorbell {@code kick},
     * interrupt {@code call}, and {@code err}, which a back-end signals when the ring breaks
     * (SET_VRING_ERR: its NEEDS_RESET; not every back-end uses it).
     */
    public void startRing(int index, VringLayout ring, EventFd kick, EventFd call, EventFd err) throws IOException {
        send(SET_VRING_NUM, VhostUserMessage.vringState(index, ring.size()), List.of());
        send(SET_VRING_BASE, VhostUserMessage.vringState(index, 0), List.of());
        ByteBuffer a = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        a.putInt(index).putInt(0).putLong(ring.desc()).putLong(ring.used()).putLong(ring.avail()).putLong(0);
        send(SET_VRING_ADDR, a.array(), List.of());
        send(SET_VRING_CALL, VhostUserMessage.u64(index), List.of(call.fd()));
        send(SET_VRING_ERR, VhostUserMessage.u64(index), List.of(err.fd()));
        send(SET_VRING_KICK, VhostUserMessage.u64(index), List.of(kick.fd()));
        if (protocol()) send(SET_VRING_ENABLE, VhostUserMessage.vringState(index, 1), List.of());
    }

    private void send(int request, byte[] payload, List<Integer> fds) throws IOException {
        try {
            VhostUserMessage.send(socket, request, 0, payload, fds);
        } catch (RuntimeException e) {
            throw new IOException(path + ": sending " + name(request) + " failed: " + e.getMessage(), e);
        }
    }

    /** Sends {@code request} and returns the back-end's reply payload. */
    private ByteBuffer ask(int request, byte[] payload) throws IOException {
        send(request, payload, List.of());
        VhostUserMessage m;
        try {
            if (!socket.awaitReadable(REPLY_MILLIS)) throw new IOException(path + ": no answer to " + name(request) + " in " + REPLY_MILLIS + " ms");
            m = VhostUserMessage.read(socket, REPLY_MILLIS, REPLY_MILLIS);
        } catch (VhostUserMessage.ProtocolError e) {
            throw new IOException(path + ": " + e.getMessage(), e);
        }
        if (m == null) throw new IOException(path + ": the back-end hung up on " + name(request));
        m.closeUntakenFds();
        if (m.request() != request || !m.isReply()) {
            throw new IOException(path + ": " + name(request) + " answered by " + name(m.request()));
        }
        return m.payload();
    }

    @Override
    public void close() {
        socket.close();
    }
}

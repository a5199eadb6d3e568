package guestlab.vhostuser;

import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.memory.GuestMemory;
import guestlab.posix.PosixException;
import guestlab.posix.UnixSocket;
import guestlab.transport.ServedDevice;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A vhost-user back-end serving one guestlab device on a unix socket: lguest's launcher grown
 * up. SET_MEM_TABLE shares the guest's memory (LHREQ_INITIALIZE); SET_VRING_KICK gives each
 * queue the eventfd its device thread sleeps on (LHREQ_EVENTFD); SET_VRING_CALL the eventfd that
 * interrupts the guest (LHREQ_IRQ). This class is the socket and its one connection at a time;
 * {@link VhostUserSession} reads the messages, {@link Vrings} runs the rings on the transport
 * core. When the front-end goes away, the device is reset and the back-end waits for the next
 * one: data already written to the device stays written.
 */
public final class VhostUserBackend implements AutoCloseable {
    /**
     * QEMU sends GET_FEATURES as soon as it connects; 10 s leaves room for a host as busy as a
     * 2-core machine running TCG guests.
     */
    public static final int SILENT_PEER_MILLIS = 10_000;

    private final String name;
    private final VirtioDevice device;
    private final Path path;
    private final UnixSocket listener;
    private final Vrings rings;
    private final ServedDevice served;
    private final int silentPeerMillis;
    private final Thread thread;
    private volatile UnixSocket connection;
    private volatile boolean closing;

    public VhostUserBackend(String guest, String name, VirtioDevice device, Path socket, EventBus events) {
        this(guest, name, device, socket, events, SILENT_PEER_MILLIS);
    }

    /**
     * @param silentPeerMillis how long a front-end may stay silent after connecting, or pause in
     *                         the middle of a message, before it is disconnected
     */
    public VhostUserBackend(String guest, String name, VirtioDevice device, Path socket, EventBus events,
                            int silentPeerMillis) {
        this.silentPeerMillis = silentPeerMillis;
        this.name = name;
        this.device = device;
        this.path = socket;
        this.rings = new Vrings(guest, name, device, events);
        this.served = rings.served();
        this.listener = UnixSocket.listen(socket);
        this.thread = Thread.ofPlatform().daemon().name("guestlab-" + guest + "-" + name + "-vhost-user").unstarted(this::serve);
        thread.start();
    }

    public Path socket() {
        return path;
    }

    public VirtioDevice device() {
        return device;
    }

    /** The running queues' state, read without stopping them. */
    public List<QueueState> queues() {
        return rings.states();
    }

    /** The guest memory the front-end shares now, or null before SET_MEM_TABLE. */
    public GuestMemory memory() {
        return rings.memory();
    }

    /** Why the device stopped serving (a malformed ring or message), or null. */
    public String brokenReason() {
        return served.brokenReason();
    }

    private void serve() {
        while (!closing) {
            UnixSocket c;
            try {
                c = listener.accept();
            } catch (PosixException e) {
                if (!closing) served.publish(EventKind.HOST_WARNING, -1, "accept on " + path + " failed: " + e.getMessage());
                return;
            }
            connection = c;
            served.publish(EventKind.LIFECYCLE, -1, "vhost-user front-end connected on " + path);
            try {
                // One front-end at a time, as in QEMU's own vhost-user servers; a silent one must
                // not hold the device: it has silentPeerMillis to start, and to finish each message.
                VhostUserSession session = new VhostUserSession(c, device, rings);
                int firstByte = silentPeerMillis;
                while (!closing) {
                    VhostUserMessage m = VhostUserMessage.read(c, firstByte, silentPeerMillis);
                    if (m == null) break;
                    firstByte = -1; // between messages a set-up front-end may be quiet for as long as it likes
                    session.handle(m);
                }
            } catch (VhostUserMessage.ProtocolError e) {
                served.fail(-1, "vhost-user protocol error: " + e.getMessage());
            } catch (RuntimeException | InternalError e) {
                // InternalError: a mapping fault (SIGBUS) the memory layer did not see; it ends this connection only
                if (!closing) served.fail(-1, "vhost-user connection failed: " + e);
            } finally {
                rings.disconnect();
                connection = null;
                c.close();
                // After everything the connection held is released, so a listener may count on it.
                if (!closing) served.publish(EventKind.LIFECYCLE, -1, "vhost-user front-end disconnected");
            }
        }
    }

    @Override
    public void close() {
        closing = true;
        listener.shutdown();
        UnixSocket c = connection;
        if (c != null) c.shutdown();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) throw new IllegalStateException("vhost-user thread for " + name + " did not stop");
        listener.close();
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // the socket file is only a name; nothing is lost if it stays
        }
    }
}

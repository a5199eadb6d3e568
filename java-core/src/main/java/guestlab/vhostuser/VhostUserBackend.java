package guestlab.vhostuser;

import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.memory.GuestMemory;
import guestlab.memory.GuestMemoryException;
import guestlab.memory.MappedRegions;
import guestlab.posix.EventFd;
import guestlab.posix.PosixException;
import guestlab.posix.UnixSocket;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.Features;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.QueueWorker;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static guestlab.vhostuser.VhostUserProtocol.*;

/**
 * A vhost-user back-end serving one guestlab device on a unix socket: lguest's launcher grown
 * up. SET_MEM_TABLE shares the guest's memory (LHREQ_INITIALIZE); SET_VRING_KICK gives each
 * queue the eventfd its device thread sleeps on (LHREQ_EVENTFD); SET_VRING_CALL the eventfd that
 * interrupts the guest (LHREQ_IRQ). When the front-end goes away, the device is reset and the
 * back-end waits for the next one: data already written to the device stays written.
 */
public final class VhostUserBackend implements AutoCloseable {
    private final String guest;
    private final String name;
    private final VirtioDevice device;
    private final Path path;
    private final EventBus events;
    private final UnixSocket listener;
    private final Vring[] rings;
    /**
     * QEMU sends GET_FEATURES as soon as it connects; 10 s leaves room for a host as busy as a
     * 2-core machine running TCG guests.
     */
    public static final int SILENT_PEER_MILLIS = 10_000;

    private final Context context = new Context();
    private final int silentPeerMillis;
    private final Thread thread;
    private volatile UnixSocket connection;
    private volatile boolean closing;
    private volatile MappedRegions memory;
    private long features;
    private long protocolFeatures;
    private boolean deviceStarted;
    /** A device thread did not stop when told: the memory it may still use is never unmapped. */
    private boolean stuckWorker;
    private volatile String broken;

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
        this.guest = guest;
        this.name = name;
        this.device = device;
        this.path = socket;
        this.events = events;
        this.rings = new Vring[device.queueCount()];
        for (int i = 0; i < rings.length; i++) rings[i] = new Vring();
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
        List<QueueState> out = new ArrayList<>();
        for (Vring r : rings) {
            DeviceQueue q = r.queue;
            if (q != null) out.add(q.state());
        }
        return out;
    }

    /** The guest memory the front-end shares now, or null before SET_MEM_TABLE. */
    public GuestMemory memory() {
        return memory;
    }

    /** Why the device stopped serving (a malformed ring or message), or null. */
    public String brokenReason() {
        return broken;
    }

    private void serve() {
        while (!closing) {
            UnixSocket c;
            try {
                c = listener.accept();
            } catch (PosixException e) {
                if (!closing) publish(EventKind.HOST_WARNING, -1, "accept on " + path + " failed: " + e.getMessage());
                return;
            }
            connection = c;
            publish(EventKind.LIFECYCLE, -1, "vhost-user front-end connected on " + path);
            try {
                // One front-end at a time, as in QEMU's own vhost-user servers; a silent one must
                // not hold the device: it has silentPeerMillis to start, and to finish each message.
                int firstByte = silentPeerMillis;
                while (!closing) {
                    VhostUserMessage m = VhostUserMessage.read(c, firstByte, silentPeerMillis);
                    if (m == null) break;
                    firstByte = -1; // between messages a set-up front-end may be quiet for as long as it likes
                    handle(c, m);
                }
            } catch (VhostUserMessage.ProtocolError e) {
                fail(-1, "vhost-user protocol error: " + e.getMessage());
            } catch (RuntimeException | InternalError e) {
                // InternalError: a mapping fault (SIGBUS) the memory layer did not see; it ends this connection only
                if (!closing) fail(-1, "vhost-user connection failed: " + e);
            } finally {
                disconnect();
                connection = null;
                c.close();
                // After everything the connection held is released, so a listener may count on it.
                if (!closing) publish(EventKind.LIFECYCLE, -1, "vhost-user front-end disconnected");
            }
        }
    }

    private void handle(UnixSocket c, VhostUserMessage m) throws VhostUserMessage.ProtocolError {
        boolean replied = false;
        try {
            switch (m.request()) {
                case GET_FEATURES -> {
                    VhostUserMessage.reply(c, m.request(), VhostUserMessage.u64(offeredFeatures()));
                    replied = true;
                }
                case SET_FEATURES -> {
                    long f = m.need(8).getLong(0);
                    if ((f & ~offeredFeatures()) != 0) {
                        throw new VhostUserMessage.ProtocolError(String.format("SET_FEATURES 0x%x has bits not offered", f));
                    }
                    features = f;
                }
                case GET_PROTOCOL_FEATURES -> {
                    VhostUserMessage.reply(c, m.request(), VhostUserMessage.u64(offeredProtocol()));
                    replied = true;
                }
                case SET_PROTOCOL_FEATURES -> protocolFeatures = m.need(8).getLong(0) & offeredProtocol();
                case GET_QUEUE_NUM -> {
                    VhostUserMessage.reply(c, m.request(), VhostUserMessage.u64(rings.length));
                    replied = true;
                }
                case SET_OWNER -> { }
                case RESET_OWNER -> disconnect();
                case SET_MEM_TABLE -> setMemTable(m);
                case SET_VRING_NUM -> {
                    Vring r = ring(m.need(8).getInt(0));
                    int num = m.payload().getInt(4);
                    int max = device.maxQueueSize(m.payload().getInt(0));
                    if (num <= 0 || num > max || Integer.bitCount(num) != 1) {
                        throw new VhostUserMessage.ProtocolError("SET_VRING_NUM " + num + ": not a power of 2 up to " + max);
                    }
                    r.num = num;
                }
                case SET_VRING_ADDR -> {
                    ByteBuffer p = m.need(40);
                    Vring r = ring(p.getInt(0));
                    r.descVa = p.getLong(8);
                    r.usedVa = p.getLong(16);
                    r.availVa = p.getLong(24);
                    r.addressed = true;
                }
                case SET_VRING_BASE -> ring(m.need(8).getInt(0)).base = m.payload().getInt(4) & 0xffff;
                case GET_VRING_BASE -> {
                    int index = m.need(8).getInt(0);
                    Vring r = ring(index);
                    stop(r);
                    closeKick(r);
                    if (allStopped()) resetDevice();
                    ByteBuffer out = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(r.base);
                    VhostUserMessage.reply(c, m.request(), out.array());
                    replied = true;
                }
                case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> setVringFd(m);
                case SET_VRING_ENABLE -> {
                    Vring r = ring(m.need(8).getInt(0));
                    r.enabled = m.payload().getInt(4) != 0;
                    if (r.enabled) tryStart(m.payload().getInt(0));
                    else stop(r);
                }
                case GET_CONFIG -> {
                    ByteBuffer p = m.need(12);
                    int offset = p.getInt(0), size = p.getInt(4);
                    if (!configRange(offset, size)) {
                        throw new VhostUserMessage.ProtocolError("GET_CONFIG of " + size + " bytes at " + offset);
                    }
                    byte[] config = device.config();
                    ByteBuffer out = ByteBuffer.allocate(12 + size).order(ByteOrder.LITTLE_ENDIAN);
                    out.putInt(offset).putInt(size).putInt(0);
                    for (int i = 0; i < size; i++) out.put(offset + i < config.length ? config[offset + i] : 0);
                    VhostUserMessage.reply(c, m.request(), out.array());
                    replied = true;
                }
                case SET_CONFIG -> {
                    ByteBuffer p = m.need(12);
                    int offset = p.getInt(0), size = p.getInt(4);
                    if (!configRange(offset, size) || p.limit() < 12 + size) {
                        throw new VhostUserMessage.ProtocolError("SET_CONFIG of " + size + " bytes at " + offset);
                    }
                    byte[] data = new byte[size];
                    p.get(12, data);
                    device.writeConfig(offset, data);
                }
                default -> {
                    publish(EventKind.HOST_WARNING, -1, "ignored unsupported vhost-user " + name(m.request()));
                    if (m.needsReply() && Features.has(protocolFeatures, PROTOCOL_F_REPLY_ACK)) {
                        VhostUserMessage.reply(c, m.request(), VhostUserMessage.u64(1));
                    }
                    replied = true;
                }
            }
            if (!replied && m.needsReply() && Features.has(protocolFeatures, PROTOCOL_F_REPLY_ACK)) {
                VhostUserMessage.reply(c, m.request(), VhostUserMessage.u64(0));
            }
        } finally {
            m.closeUntakenFds();
        }
    }

    /** A config-space range (virtio 1.x section 4.1.4.3: at most 256 bytes), added without int overflow. */
    private static boolean configRange(int offset, int size) {
        return offset >= 0 && size >= 0 && (long) offset + size <= CONFIG_SPACE;
    }

    private long offeredFeatures() {
        return device.features() | Features.bit(F_PROTOCOL_FEATURES);
    }

    /**
     * MQ and CONFIG only for block, whose front-end asks GET_QUEUE_NUM and reads capacity
     * through GET_CONFIG; QEMU 7.2's net front-end crashes when offered CONFIG.
     */
    private long offeredProtocol() {
        long p = Features.bit(PROTOCOL_F_REPLY_ACK);
        return device.type() == guestlab.virtio.DeviceType.BLOCK
                ? p | Features.bit(PROTOCOL_F_MQ) | Features.bit(PROTOCOL_F_CONFIG) : p;
    }

    private Vring ring(int index) throws VhostUserMessage.ProtocolError {
        if (index < 0 || index >= rings.length) {
            throw new VhostUserMessage.ProtocolError("vring " + index + " does not exist (" + name + " has " + rings.length + ")");
        }
        return rings[index];
    }

    /** SET_MEM_TABLE: map the front-end's regions; running rings are restarted on the new mapping. */
    private void setMemTable(VhostUserMessage m) throws VhostUserMessage.ProtocolError {
        ByteBuffer p = m.need(8);
        int n = p.getInt(0);
        if (n <= 0 || n > MAX_REGIONS || m.fds().size() != n) {
            throw new VhostUserMessage.ProtocolError("SET_MEM_TABLE with " + n + " regions and " + m.fds().size() + " fds");
        }
        m.need(8 + 32 * n);
        List<Integer> fds = m.takeFds(); // MappedRegions.map owns them from here, even if it fails
        List<MappedRegions.Region> regions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int at = 8 + 32 * i;
            regions.add(new MappedRegions.Region(p.getLong(at), p.getLong(at + 8), p.getLong(at + 16), p.getLong(at + 24),
                    fds.get(i)));
        }
        List<Integer> restart = new ArrayList<>();
        for (int i = 0; i < rings.length; i++) {
            if (rings[i].running()) {
                stop(rings[i]);
                restart.add(i);
            }
        }
        closeMemory();
        try {
            memory = MappedRegions.map(regions, guest + "/" + name + ": the front-end's memory is released (it disconnected "
                    + "or sent a new memory table)");
        } catch (RuntimeException e) {
            throw new VhostUserMessage.ProtocolError("SET_MEM_TABLE: cannot map the regions: " + e.getMessage());
        }
        for (int i : restart) tryStart(i);
    }

    private void setVringFd(VhostUserMessage m) throws VhostUserMessage.ProtocolError {
        long v = m.need(8).getLong(0);
        Vring r = ring((int) (v & VRING_INDEX_MASK));
        boolean noFd = (v & VRING_NOFD) != 0;
        if (noFd != m.fds().isEmpty() || m.fds().size() > 1) {
            throw new VhostUserMessage.ProtocolError(name(m.request()) + " with " + m.fds().size() + " fds");
        }
        EventFd fd = noFd ? null : EventFd.adopt(m.takeFds().getFirst());
        switch (m.request()) {
            case SET_VRING_KICK -> {
                stop(r);
                closeKick(r);
                r.kick = fd;
                // Without protocol features a ring starts as soon as it has a kick fd.
                if (!Features.has(features, F_PROTOCOL_FEATURES)) r.enabled = true;
                tryStart((int) (v & VRING_INDEX_MASK));
            }
            case SET_VRING_CALL -> {
                EventFd old = r.call;
                r.call = fd;
                // A device thread that still holds the old one finds it closed and signals the new one.
                if (old != null) old.close();
            }
            default -> {
                EventFd old = r.err;
                r.err = fd;
                if (old != null) old.close();
            }
        }
    }

    private void tryStart(int index) {
        Vring r = rings[index];
        if (r.running() || r.kick == null || !r.enabled || !r.addressed || r.num == 0 || memory == null || broken != null) {
            return;
        }
        MappedRegions mem = memory;
        long desc = mem.guestPhysOf(r.descVa), avail = mem.guestPhysOf(r.availVa), used = mem.guestPhysOf(r.usedVa);
        if (desc < 0 || avail < 0 || used < 0) {
            fail(index, String.format("vring %d addresses (desc 0x%x avail 0x%x used 0x%x) are outside the shared memory",
                    index, r.descVa, r.availVa, r.usedVa));
            return;
        }
        QueueId id = new QueueId(guest, name, index);
        DeviceQueue q;
        try {
            q = new DeviceQueue(mem, new VringLayout(r.num, desc, avail, used), features, id, events, r.counters);
        } catch (RingFault | GuestMemoryException f) {
            fail(index, f.getMessage());
            return;
        }
        q.setBase(r.base);
        r.queue = q;
        if (!deviceStarted) {
            device.start(context);
            deviceStarted = true;
        }
        r.worker = new QueueWorker(device, id, r.kick, false, events, r.counters,
                (qid, t) -> fail(qid.index(), t instanceof RingFault ? t.getMessage() : qid + ": device failed: " + t)).start();
        r.worker.wake(); // the driver may have queued work before we started
    }

    private void stop(Vring r) {
        QueueWorker w = r.worker;
        if (w == null) return;
        try {
            w.close();
        } catch (IllegalStateException e) { // its thread is stuck, perhaps in a system call on guest memory
            stuckWorker = true;
            publish(EventKind.HOST_WARNING, -1, e.getMessage() + "; its guest memory stays mapped");
        }
        r.worker = null;
        DeviceQueue q = r.queue;
        if (q != null) r.base = q.lastAvail();
        r.queue = null;
    }

    private boolean allStopped() {
        for (Vring r : rings) if (r.running()) return false;
        return true;
    }

    private void resetDevice() {
        if (deviceStarted) {
            device.reset();
            deviceStarted = false;
        }
    }

    private void closeKick(Vring r) {
        if (r.kick != null) {
            r.kick.close();
            r.kick = null;
        }
    }

    /** The front-end went away (or reset us): stop everything and forget what it told us. */
    private void disconnect() {
        for (Vring r : rings) {
            stop(r);
            closeKick(r);
            closeCallAndErr(r);
            r.enabled = false;
            r.addressed = false;
            r.num = 0;
            r.base = 0;
        }
        resetDevice();
        closeMemory();
        features = 0;
        protocolFeatures = 0;
        broken = null;
    }

    private static void closeCallAndErr(Vring r) {
        EventFd call = r.call, err = r.err;
        r.call = null;
        r.err = null;
        if (call != null) call.close();
        if (err != null) err.close();
    }

    private void closeMemory() {
        MappedRegions m = memory;
        memory = null;
        if (m != null && stuckWorker) {
            m.abandon();
        } else if (m != null) {
            try {
                m.close();
            } catch (RuntimeException e) {
                publish(EventKind.HOST_WARNING, -1, "unmapping guest memory: " + e.getMessage());
            }
        }
    }

    /** The guest broke a ring or the front-end the protocol: stop serving the device and say why. */
    private void fail(int queue, String reason) {
        if (broken == null) broken = reason;
        for (Vring r : rings) {
            QueueWorker w = r.worker;
            if (w != null) w.halt();
        }
        publish(EventKind.DEVICE_ERROR, queue, reason);
        // The front-end's error notifier (SET_VRING_ERR) for the ring at fault, or for all of them.
        for (int i = 0; i < rings.length; i++) {
            EventFd err = rings[i].err;
            if (err != null && (queue < 0 || queue == i)) err.trySignal();
        }
    }

    private void publish(EventKind kind, int queue, String detail) {
        events.publish(Event.note(guest, name, queue, kind, detail));
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
            java.nio.file.Files.deleteIfExists(path);
        } catch (java.io.IOException ignored) {
            // the socket file is only a name; nothing is lost if it stays
        }
    }

    /** What a started device sees: the shared memory, the negotiated features, its rings. */
    private final class Context implements DeviceContext {
        @Override
        public GuestMemory memory() {
            return memory;
        }

        @Override
        public long features() {
            return features & ~Features.bit(F_PROTOCOL_FEATURES);
        }

        @Override
        public DeviceQueue queue(int index) {
            return index >= 0 && index < rings.length ? rings[index].queue : null;
        }

        @Override
        public void used(int index) {
            Vring r = rings[index];
            DeviceQueue q = r.queue;
            if (q == null || r.call == null || !q.needsInterrupt()) return;
            // Counted and published before the guest can see it, so nobody who saw it reads a stale count.
            r.counters.interrupts.incrementAndGet();
            events.publish(new Event(System.nanoTime(), guest, name, index, EventKind.INTERRUPT,
                    q.state().usedIdx(), -1, -1, -1, "call fd"));
            EventFd call;
            // The front-end may replace the call fd meanwhile (closing the old one): then the new one rings.
            do {
                call = r.call;
            } while (call != null && !call.trySignal());
        }

        @Override
        public void wake(int index) {
            QueueWorker w = rings[index].worker;
            if (w != null) w.wake();
        }

        @Override
        public void configChanged() {
            publish(EventKind.HOST_WARNING, -1, "config changed; vhost-user has no channel to tell the guest here");
        }

        @Override
        public void warn(int index, String message) {
            publish(EventKind.HOST_WARNING, index, message);
        }
    }
}

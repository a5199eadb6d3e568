package guestlab.vhostuser;

import guestlab.events.EventKind;
import guestlab.memory.MappedRegions;
import guestlab.posix.EventFd;
import guestlab.posix.UnixSocket;
import guestlab.virtio.DeviceType;
import guestlab.virtio.Features;
import guestlab.virtio.VirtioDevice;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static guestlab.vhostuser.VhostUserProtocol.*;

/**
 * One front-end's conversation with a back-end: each message checked and turned into what it
 * asks of the device's {@link Vrings} or config space, and the replies the protocol wants. A
 * message that breaks the protocol throws {@link VhostUserMessage.ProtocolError}, which ends
 * this connection and nothing else.
 */
final class VhostUserSession {
    private final UnixSocket socket;
    private final VirtioDevice device;
    private final Vrings rings;
    private long features;
    private long protocolFeatures;

    VhostUserSession(UnixSocket socket, VirtioDevice device, Vrings rings) {
        this.socket = socket;
        this.device = device;
        this.rings = rings;
    }

    void handle(VhostUserMessage m) throws VhostUserMessage.ProtocolError {
        boolean replied = false;
        try {
            switch (m.request()) {
                case GET_FEATURES -> {
                    reply(m, VhostUserMessage.u64(offeredFeatures()));
                    replied = true;
                }
                case SET_FEATURES -> {
                    long f = m.need(8).getLong(0);
                    if ((f & ~offeredFeatures()) != 0) {
                        throw new VhostUserMessage.ProtocolError(String.format("SET_FEATURES 0x%x has bits not offered", f));
                    }
                    features = f;
                    rings.served().useFeatures(f & ~Features.bit(F_PROTOCOL_FEATURES));
                }
                case GET_PROTOCOL_FEATURES -> {
                    reply(m, VhostUserMessage.u64(offeredProtocol()));
                    replied = true;
                }
                case SET_PROTOCOL_FEATURES -> protocolFeatures = m.need(8).getLong(0) & offeredProtocol();
                case GET_QUEUE_NUM -> {
                    reply(m, VhostUserMessage.u64(rings.count()));
                    replied = true;
                }
                case SET_OWNER -> { }
                case RESET_OWNER -> {
                    rings.disconnect();
                    features = 0;
                    protocolFeatures = 0;
                }
                case SET_MEM_TABLE -> rings.setMemTable(regions(m));
                case SET_VRING_NUM -> rings.setNum(m.need(8).getInt(0), m.payload().getInt(4));
                case SET_VRING_ADDR -> {
                    ByteBuffer p = m.need(40);
                    rings.setAddresses(p.getInt(0), p.getLong(8), p.getLong(16), p.getLong(24));
                }
                case SET_VRING_BASE -> rings.setBase(m.need(8).getInt(0), m.payload().getInt(4));
                case GET_VRING_BASE -> {
                    int index = m.need(8).getInt(0);
                    int base = rings.stopAndGetBase(index);
                    reply(m, VhostUserMessage.vringState(index, base));
                    replied = true;
                }
                case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> setVringFd(m);
                case SET_VRING_ENABLE -> rings.enable(m.need(8).getInt(0), m.payload().getInt(4) != 0);
                case GET_CONFIG -> {
                    reply(m, getConfig(m.need(12)));
                    replied = true;
                }
                case SET_CONFIG -> setConfig(m.need(12));
                default -> {
                    rings.served().publish(EventKind.HOST_WARNING, -1, "ignored unsupported vhost-user " + name(m.request()));
                    if (m.needsReply() && Features.has(protocolFeatures, PROTOCOL_F_REPLY_ACK)) {
                        reply(m, VhostUserMessage.u64(1));
                    }
                    replied = true;
                }
            }
            if (!replied && m.needsReply() && Features.has(protocolFeatures, PROTOCOL_F_REPLY_ACK)) {
                reply(m, VhostUserMessage.u64(0));
            }
        } finally {
            m.closeUntakenFds();
        }
    }

    private void reply(VhostUserMessage m, byte[] payload) {
        VhostUserMessage.reply(socket, m.request(), payload);
    }

    /** GET_CONFIG {u32 offset, u32 size, u32 flags, bytes}: the device's config space, zeros past its end. */
    private byte[] getConfig(ByteBuffer p) throws VhostUserMessage.ProtocolError {
        int offset = p.getInt(0), size = p.getInt(4);
        if (!configRange(offset, size)) {
            throw new VhostUserMessage.ProtocolError("GET_CONFIG of " + size + " bytes at " + offset);
        }
        byte[] config = device.config();
        ByteBuffer out = ByteBuffer.allocate(12 + size).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(offset).putInt(size).putInt(0);
        for (int i = 0; i < size; i++) out.put(offset + i < config.length ? config[offset + i] : 0);
        return out.array();
    }

    private void setConfig(ByteBuffer p) throws VhostUserMessage.ProtocolError {
        int offset = p.getInt(0), size = p.getInt(4);
        if (!configRange(offset, size) || p.limit() < 12 + size) {
            throw new VhostUserMessage.ProtocolError("SET_CONFIG of " + size + " bytes at " + offset);
        }
        byte[] data = new byte[size];
        p.get(12, data);
        device.writeConfig(offset, data);
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
        return device.type() == DeviceType.BLOCK ? p | Features.bit(PROTOCOL_F_MQ) | Features.bit(PROTOCOL_F_CONFIG) : p;
    }

    /** SET_MEM_TABLE {u32 nregions, u32 padding, {u64 gpa, u64 size, u64 user address, u64 mmap offset}[n]}, one fd each. */
    private static List<MappedRegions.Region> regions(VhostUserMessage m) throws VhostUserMessage.ProtocolError {
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
        return regions;
    }

    /** SET_VRING_KICK/CALL/ERR {u64: ring index in bits 0-7, NOFD in bit 8}, with one fd unless NOFD. */
    private void setVringFd(VhostUserMessage m) throws VhostUserMessage.ProtocolError {
        long v = m.need(8).getLong(0);
        int index = (int) (v & VRING_INDEX_MASK);
        rings.ring(index);
        boolean noFd = (v & VRING_NOFD) != 0;
        if (noFd != m.fds().isEmpty() || m.fds().size() > 1) {
            throw new VhostUserMessage.ProtocolError(name(m.request()) + " with " + m.fds().size() + " fds");
        }
        EventFd fd = noFd ? null : EventFd.adopt(m.takeFds().getFirst());
        switch (m.request()) {
            case SET_VRING_KICK -> rings.setKick(index, fd, Features.has(features, F_PROTOCOL_FEATURES));
            case SET_VRING_CALL -> rings.setCall(index, fd);
            default -> rings.setErr(index, fd);
        }
    }
}

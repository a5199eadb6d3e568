package guestlab.vhostuser;

/** Numbers from the vhost-user specification (QEMU's docs/interop/vhost-user.rst). */
final class VhostUserProtocol {
    private VhostUserProtocol() {}

    /** Header: u32 request, u32 flags, u32 size; then size bytes of payload. */
    static final int HEADER_SIZE = 12;
    static final int VERSION = 0x1;
    static final int FLAG_REPLY = 0x4;
    static final int FLAG_NEED_REPLY = 0x8;
    /** The largest payload we accept; SET_MEM_TABLE with 8 regions is 264 bytes, GET_CONFIG at most 268. */
    static final int MAX_PAYLOAD = 4096;
    /** The most config space a device has (virtio 1.x section 4.1.4.3: a 256-byte window). */
    static final int CONFIG_SPACE = 256;

    static final int GET_FEATURES = 1;
    static final int SET_FEATURES = 2;
    static final int SET_OWNER = 3;
    static final int RESET_OWNER = 4;
    static final int SET_MEM_TABLE = 5;
    static final int SET_VRING_NUM = 8;
    static final int SET_VRING_ADDR = 9;
    static final int SET_VRING_BASE = 10;
    static final int GET_VRING_BASE = 11;
    static final int SET_VRING_KICK = 12;
    static final int SET_VRING_CALL = 13;
    static final int SET_VRING_ERR = 14;
    static final int GET_PROTOCOL_FEATURES = 15;
    static final int SET_PROTOCOL_FEATURES = 16;
    static final int GET_QUEUE_NUM = 17;
    static final int SET_VRING_ENABLE = 18;
    static final int GET_CONFIG = 24;
    static final int SET_CONFIG = 25;

    /** Virtio feature bit 30: the back-end speaks protocol features (and rings start disabled). */
    static final int F_PROTOCOL_FEATURES = 30;

    static final int PROTOCOL_F_MQ = 0;
    static final int PROTOCOL_F_REPLY_ACK = 3;
    static final int PROTOCOL_F_CONFIG = 9;

    /** SET_VRING_KICK/CALL/ERR payload: index in bits 0-7, bit 8 set when no fd is passed. */
    static final long VRING_INDEX_MASK = 0xff;
    static final long VRING_NOFD = 0x100;

    static final int MAX_REGIONS = 8;

    static String name(int request) {
        return switch (request) {
            case GET_FEATURES -> "GET_FEATURES";
            case SET_FEATURES -> "SET_FEATURES";
            case SET_OWNER -> "SET_OWNER";
            case RESET_OWNER -> "RESET_OWNER";
            case SET_MEM_TABLE -> "SET_MEM_TABLE";
            case SET_VRING_NUM -> "SET_VRING_NUM";
            case SET_VRING_ADDR -> "SET_VRING_ADDR";
            case SET_VRING_BASE -> "SET_VRING_BASE";
            case GET_VRING_BASE -> "GET_VRING_BASE";
            case SET_VRING_KICK -> "SET_VRING_KICK";
            case SET_VRING_CALL -> "SET_VRING_CALL";
            case SET_VRING_ERR -> "SET_VRING_ERR";
            case GET_PROTOCOL_FEATURES -> "GET_PROTOCOL_FEATURES";
            case SET_PROTOCOL_FEATURES -> "SET_PROTOCOL_FEATURES";
            case GET_QUEUE_NUM -> "GET_QUEUE_NUM";
            case SET_VRING_ENABLE -> "SET_VRING_ENABLE";
            case GET_CONFIG -> "GET_CONFIG";
            case SET_CONFIG -> "SET_CONFIG";
            default -> "request " + request;
        };
    }
}

package guestlab.virtio.net;

import guestlab.virtio.Features;

/** virtio-net wire constants (virtio 1.x section 5.1), shared by devices and drivers. */
public final class NetSpec {
    private NetSpec() {}

    public static final int F_MAC = 5;
    public static final int F_MRG_RXBUF = 15;
    public static final int F_STATUS = 16;

    public static final int CFG_MAC = 0;
    public static final int CFG_STATUS = 6;
    public static final int CONFIG_SIZE = 8;
    public static final int S_LINK_UP = 1;

    /** Largest Ethernet frame we carry (no VLAN, no offloads): 1514 bytes. */
    public static final int MAX_FRAME = 1514;

    /**
     * struct virtio_net_hdr_v1 is 12 bytes (num_buffers included) under VERSION_1 or MRG_RXBUF;
     * legacy devices without MRG_RXBUF use the 10-byte header (5.1.6).
     */
    public static int headerSize(long features) {
        return Features.has(features, Features.VERSION_1) || Features.has(features, F_MRG_RXBUF) ? 12 : 10;
    }

    /** Offset of num_buffers in the 12-byte header. */
    public static final int HDR_NUM_BUFFERS = 10;
}

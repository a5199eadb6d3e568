package guestlab.lguest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * struct lguest_device_desc (lguest_launcher.h, D:010) with its variable tail, byte-exact:
 * <pre>
 *   u8 type; u8 num_vq; u8 feature_len; u8 config_len; u8 status;   // 5 bytes
 *   struct lguest_vqconfig vq[num_vq];                              // 8 bytes each
 *   u8 host_features[feature_len];
 *   u8 guest_features[feature_len];
 *   u8 config[config_len];
 * </pre>
 * Multi-byte fields are little-endian (lguest ran only on x86). Feature bit n is bit n%8 of
 * byte n/8, as lguest_device.c's lg_get_features() read them.
 */
public record LguestDeviceDesc(int type, int status, List<LguestVqConfig> vqs, byte[] hostFeatures,
                               byte[] guestFeatures, byte[] config) {
    public static final int TYPE_OFFSET = 0;
    public static final int NUM_VQ_OFFSET = 1;
    public static final int FEATURE_LEN_OFFSET = 2;
    public static final int CONFIG_LEN_OFFSET = 3;
    public static final int STATUS_OFFSET = 4;
    /** sizeof(struct lguest_device_desc): config[] starts here. */
    public static final int HEADER_SIZE = 5;
    /**
     * The type byte of a hot-unplugged device's descriptor: guestlab's extension to lguest, whose
     * launcher never removed a device (lguest_launcher.h has no removal). The descriptor keeps its
     * place and size, so the descriptors after it do not move and a walk of the page steps over it
     * (type 0 would end the walk there); virtio defines no device with ID 0xFF, so no driver binds it.
     */
    public static final int TYPE_REMOVED = 0xFF;

    public LguestDeviceDesc {
        vqs = List.copyOf(vqs);
        if (type < 1 || type > 255) throw new IllegalArgumentException("device type must be 1..255 (0 ends the list)");
        if (vqs.size() > 255 || hostFeatures.length > 255 || config.length > 255) {
            throw new IllegalArgumentException("num_vq, feature_len and config_len are u8 fields");
        }
        if (guestFeatures.length != hostFeatures.length) {
            throw new IllegalArgumentException("host and guest feature arrays are both feature_len bytes");
        }
    }

    public int numVq() {
        return vqs.size();
    }

    public int featureLen() {
        return hostFeatures.length;
    }

    public int configLen() {
        return config.length;
    }

    /** Total bytes of this descriptor in the device page. */
    public int size() {
        return size(numVq(), featureLen(), configLen());
    }

    public static int size(int numVq, int featureLen, int configLen) {
        return HEADER_SIZE + numVq * LguestVqConfig.SIZE + 2 * featureLen + configLen;
    }

    public static int vqOffset(int index) {
        return HEADER_SIZE + index * LguestVqConfig.SIZE;
    }

    public static int hostFeaturesOffset(int numVq) {
        return HEADER_SIZE + numVq * LguestVqConfig.SIZE;
    }

    public static int guestFeaturesOffset(int numVq, int featureLen) {
        return hostFeaturesOffset(numVq) + featureLen;
    }

    public static int configOffset(int numVq, int featureLen) {
        return hostFeaturesOffset(numVq) + 2 * featureLen;
    }

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(size()).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) type).put((byte) numVq()).put((byte) featureLen()).put((byte) configLen()).put((byte) status);
        for (LguestVqConfig vq : vqs) {
            b.putShort((short) vq.num()).putShort((short) vq.irq()).putInt((int) vq.pfn());
        }
        b.put(hostFeatures).put(guestFeatures).put(config);
        return b.array();
    }

    /**
     * Decodes the descriptor at {@code offset} of {@code page}, or returns null at the type-0
     * terminator. A descriptor running past the page is refused.
     */
    public static LguestDeviceDesc decode(byte[] page, int offset) {
        if (offset >= page.length || page[offset] == 0) return null;
        if (offset + HEADER_SIZE > page.length) throw new IllegalArgumentException("device descriptor header runs off the page");
        ByteBuffer b = ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN);
        int type = Byte.toUnsignedInt(page[offset + TYPE_OFFSET]);
        int numVq = Byte.toUnsignedInt(page[offset + NUM_VQ_OFFSET]);
        int featureLen = Byte.toUnsignedInt(page[offset + FEATURE_LEN_OFFSET]);
        int configLen = Byte.toUnsignedInt(page[offset + CONFIG_LEN_OFFSET]);
        int status = Byte.toUnsignedInt(page[offset + STATUS_OFFSET]);
        if (offset + size(numVq, featureLen, configLen) > page.length) {
            throw new IllegalArgumentException("device descriptor at " + offset + " runs off the page");
        }
        List<LguestVqConfig> vqs = new ArrayList<>(numVq);
        for (int i = 0; i < numVq; i++) {
            int at = offset + vqOffset(i);
            vqs.add(new LguestVqConfig(Short.toUnsignedInt(b.getShort(at + LguestVqConfig.NUM_OFFSET)),
                    Short.toUnsignedInt(b.getShort(at + LguestVqConfig.IRQ_OFFSET)),
                    Integer.toUnsignedLong(b.getInt(at + LguestVqConfig.PFN_OFFSET))));
        }
        int hf = offset + hostFeaturesOffset(numVq);
        int gf = offset + guestFeaturesOffset(numVq, featureLen);
        int cf = offset + configOffset(numVq, featureLen);
        return new LguestDeviceDesc(type, status, vqs,
                java.util.Arrays.copyOfRange(page, hf, hf + featureLen),
                java.util.Arrays.copyOfRange(page, gf, gf + featureLen),
                java.util.Arrays.copyOfRange(page, cf, cf + configLen));
    }

    /** Feature bits as bytes: bit n in byte n/8, bit n%8. */
    public static byte[] featureBytes(long features, int featureLen) {
        byte[] out = new byte[featureLen];
        for (int i = 0; i < Math.min(featureLen, 8); i++) out[i] = (byte) (features >>> (8 * i));
        return out;
    }

    public static long featureBits(byte[] bytes) {
        long f = 0;
        for (int i = 0; i < Math.min(bytes.length, 8); i++) f |= (long) Byte.toUnsignedInt(bytes[i]) << (8 * i);
        return f;
    }
}

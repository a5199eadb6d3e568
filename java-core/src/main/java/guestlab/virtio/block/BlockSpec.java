package guestlab.virtio.block;

/** virtio-blk wire constants (virtio 1.x section 5.2), shared by devices and drivers. */
public final class BlockSpec {
    private BlockSpec() {}

    public static final int SECTOR = 512;

    // Feature bits (5.2.3)
    public static final int F_SIZE_MAX = 1;
    public static final int F_SEG_MAX = 2;
    public static final int F_RO = 5;
    public static final int F_BLK_SIZE = 6;
    public static final int F_FLUSH = 9;
    public static final int F_MQ = 12;

    // Config offsets (5.2.4)
    public static final int CFG_CAPACITY = 0;
    public static final int CFG_SIZE_MAX = 8;
    public static final int CFG_SEG_MAX = 12;
    public static final int CFG_BLK_SIZE = 20;
    /** le16 num_queues, present with F_MQ. */
    public static final int CFG_NUM_QUEUES = 34;
    public static final int CONFIG_SIZE = 36;

    // Request header {le32 type, le32 reserved, le64 sector} (5.2.6)
    public static final int HEADER_SIZE = 16;
    public static final int T_IN = 0;
    public static final int T_OUT = 1;
    public static final int T_FLUSH = 4;
    public static final int T_GET_ID = 8;
    public static final int T_DISCARD = 11;
    public static final int ID_BYTES = 20;
    /** A discard segment: {le64 sector, le32 num_sectors, le32 flags} (5.2.6). */
    public static final int DISCARD_SEGMENT_SIZE = 16;

    public static final int S_OK = 0;
    public static final int S_IOERR = 1;
    public static final int S_UNSUPP = 2;

    public static String statusName(int s) {
        return switch (s) {
            case S_OK -> "OK";
            case S_IOERR -> "IOERR";
            case S_UNSUPP -> "UNSUPP";
            default -> "status " + s;
        };
    }

    public static String typeName(int t) {
        return switch (t) {
            case T_IN -> "IN";
            case T_OUT -> "OUT";
            case T_FLUSH -> "FLUSH";
            case T_GET_ID -> "GET_ID";
            case T_DISCARD -> "DISCARD";
            default -> "type " + t;
        };
    }
}

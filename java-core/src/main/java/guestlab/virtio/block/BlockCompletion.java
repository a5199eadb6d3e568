package guestlab.virtio.block;

/**
 * How a block request ended (virtio 1.x section 5.2.6): the status byte, and how many data bytes
 * went into the request's writable buffers. The used ring's length is {@code dataWritten + 1},
 * the status byte included.
 */
public record BlockCompletion(int status, int dataWritten) {
    public static final BlockCompletion OK = new BlockCompletion(BlockSpec.S_OK, 0);
    public static final BlockCompletion IOERR = new BlockCompletion(BlockSpec.S_IOERR, 0);
    public static final BlockCompletion UNSUPP = new BlockCompletion(BlockSpec.S_UNSUPP, 0);

    public BlockCompletion {
        if (status < 0 || status > 0xff) throw new IllegalArgumentException("a status is one byte, not " + status);
        if (dataWritten < 0) throw new IllegalArgumentException("dataWritten " + dataWritten + " is negative");
    }

    /**
     * Successes of whole sectors up to 4 MiB, each made the first time it is needed and shared
     * from then on, so that a read's completion allocates nothing on the device path. Two threads
     * may make the same one at once; either serves.
     */
    private static final BlockCompletion[] OK_SECTORS = new BlockCompletion[(4 << 20) / BlockSpec.SECTOR + 1];

    /** Success with {@code dataWritten} bytes of data put into the chain. */
    public static BlockCompletion ok(int dataWritten) {
        if (dataWritten == 0) return OK;
        int sectors = dataWritten / BlockSpec.SECTOR;
        if (dataWritten < 0 || dataWritten % BlockSpec.SECTOR != 0 || sectors >= OK_SECTORS.length) {
            return new BlockCompletion(BlockSpec.S_OK, dataWritten);
        }
        BlockCompletion c = OK_SECTORS[sectors];
        if (c == null) OK_SECTORS[sectors] = c = new BlockCompletion(BlockSpec.S_OK, dataWritten);
        return c;
    }
}

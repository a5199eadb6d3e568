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

    /** Success with {@code dataWritten} bytes of data put into the chain. */
    public static BlockCompletion ok(int dataWritten) {
        return dataWritten == 0 ? OK : new BlockCompletion(BlockSpec.S_OK, dataWritten);
    }
}

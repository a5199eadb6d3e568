package guestlab.engine.sim;

import guestlab.virtio.block.BlockSpec;

/** A virtio-blk request came back with a status other than OK. */
public final class BlockIoException extends RuntimeException {
    private final int status;

    public BlockIoException(String device, int type, long sector, int status) {
        super(device + ": " + BlockSpec.typeName(type) + (type == BlockSpec.T_IN || type == BlockSpec.T_OUT
                ? " at sector " + sector : "") + " failed with VIRTIO_BLK_S_" + BlockSpec.statusName(status));
        this.status = status;
    }

    public int status() {
        return status;
    }
}

package guestlab.engine.sim;

import guestlab.devices.BlockProtocol;

/** A virtio-blk request came back with a status other than OK. */
public final class BlockIoException extends RuntimeException {
    private final int status;

    public BlockIoException(String device, int type, long sector, int status) {
        super(device + ": " + BlockProtocol.typeName(type) + (type == BlockProtocol.T_IN || type == BlockProtocol.T_OUT
                ? " at sector " + sector : "") + " failed with VIRTIO_BLK_S_" + BlockProtocol.statusName(status));
        this.status = status;
    }

    public int status() {
        return status;
    }
}

package guestlab.devices;

import guestlab.posix.IoVector;
import guestlab.virtio.BufferRange;
import guestlab.virtio.block.BlockCompletion;
import guestlab.virtio.block.BlockRequest;
import guestlab.virtio.block.BlockRequest.Discard;
import guestlab.virtio.block.BlockRequest.Flush;
import guestlab.virtio.block.BlockRequest.GetId;
import guestlab.virtio.block.BlockRequest.Misaligned;
import guestlab.virtio.block.BlockRequest.Read;
import guestlab.virtio.block.BlockRequest.Unsupported;
import guestlab.virtio.block.BlockRequest.Write;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;

import static guestlab.virtio.block.BlockSpec.*;

/**
 * A {@link BlockDevice}'s own handler: executes requests against its raw image, moving data
 * straight between the file and guest memory. Every failure is a status: IOERR for ranges past
 * the capacity, misaligned data, writes to a read-only image and host I/O errors (which are also
 * reported); UNSUPP for what the device does not offer.
 */
final class ImageBlockHandler implements BlockHandler {
    /** Each device thread's scatter-gather list, refilled per request. */
    private static final ThreadLocal<IoVector> PIECES = ThreadLocal.withInitial(IoVector::new);

    private final Path image;
    private final ImageFile file;
    private final boolean readOnly;
    private final long capacity;
    private final byte[] id;
    private final Consumer<String> warn;

    /** {@code capacity} in sectors; {@code warn} reports host failures to the user. */
    ImageBlockHandler(Path image, ImageFile file, boolean readOnly, long capacity, Consumer<String> warn) {
        this.image = image;
        this.file = file;
        this.readOnly = readOnly;
        this.capacity = capacity;
        this.warn = warn;
        // GET_ID answers the image's file name, NUL padded if shorter (5.2.6)
        String name = image.getFileName().toString();
        byte[] serial = name.substring(0, Math.min(ID_BYTES, name.length())).getBytes(StandardCharsets.US_ASCII);
        this.id = Arrays.copyOf(serial, ID_BYTES);
    }

    @Override
    public BlockCompletion handle(BlockRequest request) {
        return switch (request) {
            case Read r -> !inRange(r.sector(), r.length()) ? BlockCompletion.IOERR
                    : transfer(r, r.sector(), false) ? BlockCompletion.ok((int) r.length()) : BlockCompletion.IOERR;
            case Write w -> readOnly || !inRange(w.sector(), w.length()) ? BlockCompletion.IOERR
                    : transfer(w, w.sector(), true) ? BlockCompletion.OK : BlockCompletion.IOERR;
            case Flush f -> flush();
            case GetId g -> {
                int n = (int) Math.min(g.length(), ID_BYTES);
                g.write(0, id, 0, n);
                yield BlockCompletion.ok(n);
            }
            // VIRTIO_BLK_F_DISCARD is not offered, so any discard, well formed or not, is UNSUPP
            case Discard d -> BlockCompletion.UNSUPP;
            case Misaligned m -> m.type() == T_DISCARD ? BlockCompletion.UNSUPP : BlockCompletion.IOERR;
            case Unsupported u -> BlockCompletion.UNSUPP;
        };
    }

    private boolean inRange(long sector, long bytes) {
        return sector >= 0 && sector <= capacity && bytes / SECTOR <= capacity - sector;
    }

    /**
     * Moves {@code data} between the file at {@code sector} and guest memory, which bounds-checks
     * its pieces (see {@link ImageFile} for how). Returns false on a host error, which is reported.
     */
    private boolean transfer(BufferRange data, long sector, boolean write) {
        long pos = sector * SECTOR;
        IoVector pieces = PIECES.get();
        pieces.clear();
        data.gather(pieces);
        try {
            if (write) file.write(pieces, pos);
            else file.read(pieces, pos);
            return true;
        } catch (IOException e) {
            warn.accept((write ? "write" : "read") + " of " + image + " at byte " + pos + " failed: " + e.getMessage());
            return false;
        }
    }

    /** VIRTIO_BLK_T_FLUSH: the data is on stable storage before the request completes. */
    private BlockCompletion flush() {
        if (readOnly) return BlockCompletion.OK;
        try {
            file.flush();
            return BlockCompletion.OK;
        } catch (IOException e) {
            warn.accept("fsync of " + image + " failed: " + e.getMessage());
            return BlockCompletion.IOERR;
        }
    }
}

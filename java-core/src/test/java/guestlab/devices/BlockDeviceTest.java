package guestlab.devices;

import guestlab.virtio.Buffer;
import guestlab.virtio.driver.DriverQueue;
import guestlab.virtio.RingFault;
import guestlab.virtio.block.BlockCompletion;
import guestlab.virtio.block.BlockRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static guestlab.virtio.block.BlockSpec.*;
import static org.junit.jupiter.api.Assertions.*;

/** virtio-blk requests as a driver sends them, including the ones a driver should not send. */
class BlockDeviceTest {
    @TempDir
    Path dir;

    private Path image(byte[] content) throws Exception {
        Path p = dir.resolve("img-" + content.length);
        Files.write(p, content);
        return p;
    }

    private static byte[] header(int type, long sector) {
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(0).putLong(sector).array();
    }

    /** Sends one request; returns the status byte. */
    private static int request(DeviceHarness h, int type, long sector, List<Buffer> out, List<Buffer> in) throws RingFault {
        Buffer status = h.buffer(1);
        h.mem.writeU8(status.addr(), 0xee);
        List<Buffer> readable = new java.util.ArrayList<>(List.of(h.buffer(header(type, sector))));
        readable.addAll(out);
        List<Buffer> writable = new java.util.ArrayList<>(in);
        writable.add(status);
        DriverQueue.Used u = h.send(0, readable, writable);
        assertNotNull(u);
        return h.mem.readU8(status.addr());
    }

    @Test
    void configShowsCapacityAndBlockSize() throws Exception {
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(image(new byte[1 << 20]), false))) {
            ByteBuffer c = ByteBuffer.wrap(h.device.config()).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(2048, c.getLong(CFG_CAPACITY));
            assertEquals(512, c.getInt(CFG_BLK_SIZE));
            assertEquals(126, c.getInt(CFG_SEG_MAX));
        }
    }

    @Test
    void anImageOfOddSizeBehavesLikeQemuRaw() throws Exception {
        byte[] content = new byte[1000];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 7);
        Path img = image(content);
        BlockDevice dev = BlockDevice.open(img, false);
        assertEquals(2, dev.capacitySectors(), "1000 bytes round up to 2 sectors");
        try (DeviceHarness h = new DeviceHarness(dev)) {
            Buffer data = h.buffer(512);
            assertEquals(S_OK, request(h, T_IN, 1, List.of(), List.of(data)));
            byte[] got = h.mem.read(data.addr(), 512);
            assertArrayEquals(Arrays.copyOfRange(content, 512, 1000), Arrays.copyOf(got, 488));
            assertArrayEquals(new byte[24], Arrays.copyOfRange(got, 488, 512), "past end of file reads as zeros");
            assertEquals(S_IOERR, request(h, T_IN, 2, List.of(), List.of(h.buffer(512))), "sector 2 is past capacity");
            byte[] tail = new byte[512];
            Arrays.fill(tail, (byte) 0x5a);
            assertEquals(S_OK, request(h, T_OUT, 1, List.of(h.buffer(tail)), List.of()));
            assertEquals(S_OK, request(h, T_FLUSH, 0, List.of(), List.of()));
        }
        assertEquals(1024, Files.size(img), "a write to the tail sector extends the file");
    }

    @Test
    void outOfRangeAndMisalignedRequestsAreIoErrors() throws Exception {
        Path img = image(new byte[8192]);
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(img, false))) {
            assertEquals(S_IOERR, request(h, T_IN, 16, List.of(), List.of(h.buffer(512))));
            assertEquals(S_IOERR, request(h, T_IN, 15, List.of(), List.of(h.buffer(1024))), "runs off the end");
            assertEquals(S_IOERR, request(h, T_OUT, -1L, List.of(h.buffer(512)), List.of()), "sector 2^64-1");
            assertEquals(S_IOERR, request(h, T_OUT, 0, List.of(h.buffer(100)), List.of()), "not whole sectors");
            assertEquals(S_OK, request(h, T_OUT, 15, List.of(h.buffer(new byte[512])), List.of()));
        }
        assertEquals(8192, Files.size(img));
    }

    @Test
    void unknownRequestsAreUnsupported() throws Exception {
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(image(new byte[4096]), false))) {
            assertEquals(S_UNSUPP, request(h, 11 /* DISCARD, not offered */, 0, List.of(), List.of()));
            assertEquals(S_UNSUPP, request(h, 13 /* WRITE_ZEROES, not offered */, 0, List.of(), List.of()));
        }
    }

    @Test
    void discardIsUnsupportedWhateverItsShape() throws Exception {
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(image(new byte[4096]), false))) {
            assertEquals(S_UNSUPP, request(h, T_DISCARD, 0, List.of(), List.of()), "no segments");
            assertEquals(S_UNSUPP, request(h, T_DISCARD, 0, List.of(h.buffer(new byte[DISCARD_SEGMENT_SIZE])), List.of()));
            assertEquals(S_UNSUPP, request(h, T_DISCARD, 0, List.of(h.buffer(new byte[20])), List.of()), "a ragged segment");
        }
    }

    @Test
    void getIdReturnsTheSerial() throws Exception {
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(image(new byte[4096]), false))) {
            Buffer id = h.buffer(ID_BYTES);
            assertEquals(S_OK, request(h, T_GET_ID, 0, List.of(), List.of(id)));
            assertEquals("img-4096", new String(h.mem.read(id.addr(), 8)));
            assertEquals(0, h.mem.readU8(id.addr() + 8), "NUL padded");
        }
    }

    @Test
    void writesSplitAcrossDescriptorsLandInOrder() throws Exception {
        Path img = image(new byte[4096]);
        byte[] a = new byte[512], b = new byte[1024];
        Arrays.fill(a, (byte) 1);
        Arrays.fill(b, (byte) 2);
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(img, false))) {
            assertEquals(S_OK, request(h, T_OUT, 2, List.of(h.buffer(a), h.buffer(b)), List.of()));
            assertEquals(S_OK, request(h, T_FLUSH, 0, List.of(), List.of()));
        }
        byte[] file = Files.readAllBytes(img);
        assertArrayEquals(a, Arrays.copyOfRange(file, 1024, 1536));
        assertArrayEquals(b, Arrays.copyOfRange(file, 1536, 2560));
    }

    /**
     * Two reads offered together, served in one batch: what used.idx the driver could see when the
     * device started on the second. A large one is shown at once, so a driver refills the ring
     * while the next is served; small ones are shown together at the batch's end.
     */
    private static List<Integer> usedIdxSeenPerRequest(int length) throws Exception {
        List<Integer> seen = new java.util.ArrayList<>();
        DeviceHarness[] harness = new DeviceHarness[1];
        BlockHandler recorder = request -> {
            DeviceHarness h = harness[0];
            seen.add(h.mem.readU16(h.queues[0].layout().usedIdx()));
            return BlockCompletion.ok((int) ((BlockRequest.Read) request).length());
        };
        try (DeviceHarness h = new DeviceHarness(BlockDevice.over(recorder, 8 << 20, false, 1))) {
            harness[0] = h;
            for (int i = 0; i < 2; i++) {
                Buffer status = h.buffer(1);
                h.drivers[0].add(List.of(h.buffer(header(T_IN, 0))), List.of(h.buffer(length), status));
            }
            h.device.handle(0);
            assertNotNull(h.drivers[0].pollUsed());
            assertNotNull(h.drivers[0].pollUsed());
        }
        return seen;
    }

    @Test
    void aLargeRequestIsShownToTheDriverBeforeTheNextIsServed() throws Exception {
        assertEquals(List.of(0, 1), usedIdxSeenPerRequest(512 << 10), "the first 512 KiB read was in the used ring before the second began");
        assertEquals(List.of(0, 0), usedIdxSeenPerRequest(4096), "4 KiB reads go back together at the batch's end");
    }

    @Test
    void aRequestWithoutHeaderOrStatusBreaksTheQueueAndLeavesTheFile() throws Exception {
        byte[] content = new byte[4096];
        Arrays.fill(content, (byte) 9);
        Path img = image(content);
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(img, false))) {
            h.drivers[0].add(List.of(h.buffer(8)), List.of(h.buffer(1)));
            RingFault f = assertThrows(RingFault.class, () -> h.device.handle(0));
            assertTrue(f.getMessage().contains("without a 16-byte header"));
            assertTrue(h.queues[0].isBroken());
        }
        try (DeviceHarness h = new DeviceHarness(BlockDevice.open(img, false))) {
            h.drivers[0].add(List.of(h.buffer(header(T_OUT, 0)), h.buffer(new byte[512])), List.of());
            RingFault f = assertThrows(RingFault.class, () -> h.device.handle(0));
            assertTrue(f.getMessage().contains("without a status byte"));
        }
        assertArrayEquals(content, Files.readAllBytes(img));
    }

    @Test
    void aReadOnlyImageIsOpenedReadOnly() throws Exception {
        Path img = image(new byte[4096]);
        img.toFile().setWritable(false);
        BlockDevice dev = BlockDevice.open(img, true);
        assertTrue(dev.readOnly());
        assertTrue((dev.features() & (1L << F_RO)) != 0, "VIRTIO_BLK_F_RO offered");
        try (DeviceHarness h = new DeviceHarness(dev)) {
            assertEquals(S_IOERR, request(h, T_OUT, 0, List.of(h.buffer(new byte[512])), List.of()));
            assertEquals(S_OK, request(h, T_IN, 0, List.of(), List.of(h.buffer(512))));
        }
    }

    @Test
    void aMissingImageIsAClearError() {
        var e = assertThrows(java.io.IOException.class, () -> BlockDevice.open(dir.resolve("nope.img"), false));
        assertTrue(e.getMessage().contains("does not exist"));
    }
}

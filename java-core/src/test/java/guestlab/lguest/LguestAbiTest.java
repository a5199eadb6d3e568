package guestlab.lguest;

import guestlab.memory.MemfdMemory;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Pins the byte layout of lguest_launcher.h: struct offsets, sizes, the request words. */
class LguestAbiTest {
    private static LguestDeviceDesc sample() {
        return new LguestDeviceDesc(2, 0x07,
                List.of(new LguestVqConfig(128, 1, 0x1234), new LguestVqConfig(64, 2, 0xabcdef01L)),
                new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, new byte[] {9, 10, 11, 12, 13, 14, 15, 16},
                new byte[] {20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31});
    }

    @Test
    void deviceDescHeaderIsFiveBytesThenConfig() {
        assertEquals(0, LguestDeviceDesc.TYPE_OFFSET);
        assertEquals(1, LguestDeviceDesc.NUM_VQ_OFFSET);
        assertEquals(2, LguestDeviceDesc.FEATURE_LEN_OFFSET);
        assertEquals(3, LguestDeviceDesc.CONFIG_LEN_OFFSET);
        assertEquals(4, LguestDeviceDesc.STATUS_OFFSET);
        assertEquals(5, LguestDeviceDesc.HEADER_SIZE);
    }

    @Test
    void vqconfigIsEightBytesNumIrqPfn() {
        assertEquals(8, LguestVqConfig.SIZE);
        assertEquals(0, LguestVqConfig.NUM_OFFSET);
        assertEquals(2, LguestVqConfig.IRQ_OFFSET);
        assertEquals(4, LguestVqConfig.PFN_OFFSET);
    }

    @Test
    void tailOffsetsForTwoQueuesEightFeatureBytesTwelveConfigBytes() {
        assertEquals(5, LguestDeviceDesc.vqOffset(0));
        assertEquals(13, LguestDeviceDesc.vqOffset(1));
        assertEquals(21, LguestDeviceDesc.hostFeaturesOffset(2));
        assertEquals(29, LguestDeviceDesc.guestFeaturesOffset(2, 8));
        assertEquals(37, LguestDeviceDesc.configOffset(2, 8));
        assertEquals(49, sample().size());
    }

    @Test
    void encodeWritesEveryByteWhereTheHeaderSays() {
        byte[] b = sample().encode();
        assertEquals(49, b.length);
        assertArrayEquals(new byte[] {2, 2, 8, 12, 7}, java.util.Arrays.copyOf(b, 5));
        // vq 0: num 128 = 0x0080, irq 1, pfn 0x1234, little-endian
        assertArrayEquals(new byte[] {(byte) 0x80, 0, 1, 0, 0x34, 0x12, 0, 0}, java.util.Arrays.copyOfRange(b, 5, 13));
        // vq 1: num 64, irq 2, pfn 0xabcdef01
        assertArrayEquals(new byte[] {64, 0, 2, 0, 1, (byte) 0xef, (byte) 0xcd, (byte) 0xab},
                java.util.Arrays.copyOfRange(b, 13, 21));
        assertEquals(1, b[21]);
        assertEquals(8, b[28]);
        assertEquals(9, b[29]);
        assertEquals(16, b[36]);
        assertEquals(20, b[37]);
        assertEquals(31, b[48]);
    }

    @Test
    void decodeRoundTripsAndStopsAtTypeZero() {
        LguestDeviceDesc d = sample();
        byte[] page = new byte[64];
        System.arraycopy(d.encode(), 0, page, 0, d.size());
        LguestDeviceDesc back = LguestDeviceDesc.decode(page, 0);
        assertEquals(d.type(), back.type());
        assertEquals(d.status(), back.status());
        assertEquals(d.vqs(), back.vqs());
        assertArrayEquals(d.hostFeatures(), back.hostFeatures());
        assertArrayEquals(d.guestFeatures(), back.guestFeatures());
        assertArrayEquals(d.config(), back.config());
        assertNull(LguestDeviceDesc.decode(page, d.size()), "type 0 ends the list");
    }

    @Test
    void aDescriptorRunningOffThePageIsRefused() {
        byte[] page = new byte[8];
        page[0] = 1;
        page[1] = 2; // two vqs: 16 more bytes than there are
        assertThrows(IllegalArgumentException.class, () -> LguestDeviceDesc.decode(page, 0));
    }

    @Test
    void anIrqLguestRefusesIsRefused() {
        assertEquals(new LhReq.Irq(223), LhReq.decode(new LhReq.Irq(223).encode()), "the last of LGUEST_IRQS");
        for (long irq : new long[] {224, 0x8000_0000L, 0xffff_ffffL}) {
            byte[] req = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                    .putInt(LhReq.LHREQ_IRQ).putInt((int) irq).array();
            var e = assertThrows(IllegalArgumentException.class, () -> LhReq.decode(req));
            assertEquals("LHREQ_IRQ " + irq + ": a guest has irqs 0 to 223", e.getMessage());
        }
    }

    @Test
    void featureBitNIsBitNMod8OfByteNDiv8() {
        byte[] b = LguestDeviceDesc.featureBytes((1L << 32) | (1L << 9) | 1, 8);
        assertArrayEquals(new byte[] {1, 2, 0, 0, 1, 0, 0, 0}, b);
        assertEquals((1L << 32) | (1L << 9) | 1, LguestDeviceDesc.featureBits(b));
    }

    @Test
    void devicePageLaysDescriptorsBackToBackWithATerminator() throws Exception {
        try (MemfdMemory mem = MemfdMemory.allocate("abi", 2 * 4096)) {
            mem.write(4096, new byte[] {(byte) 0xff, (byte) 0xff}); // junk the page must clear
            DevicePage page = new DevicePage(mem, 4096, 4096);
            long a = page.add(sample());
            long b = page.add(new LguestDeviceDesc(4, 0, List.of(new LguestVqConfig(64, 3, 0)), new byte[8], new byte[8], new byte[0]));
            long c = page.add(new LguestDeviceDesc(3, 0, List.of(), new byte[0], new byte[0], new byte[0]));
            assertEquals(4096, a);
            assertEquals(4096 + 49, b);
            assertEquals(4096 + 49 + 29, c);
            assertEquals(0, mem.readU8(c + 5), "type 0 after the last descriptor");
            assertEquals(List.of(a, b, c), DevicePage.scan(mem, 4096, 4096));
            assertEquals(4, LguestDeviceDesc.decode(mem.read(4096, 4096), (int) (b - 4096)).type());
        }
    }

    @Test
    void aFullDevicePageRefusesMoreSayingHowManyBytesAreMissingAndWritesNothing() throws Exception {
        try (MemfdMemory mem = MemfdMemory.allocate("abi", 4096)) {
            DevicePage page = new DevicePage(mem, 0, 64);
            page.add(sample());
            byte[] before = mem.read(0, 64);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> page.add(sample()));
            assertEquals("the lguest device page is full: a descriptor of 49 bytes and the type-0 terminator need 50, 15 of its 64"
                    + " bytes are free: 35 bytes missing", e.getMessage());
            assertArrayEquals(before, mem.read(0, 64));
            assertEquals(List.of(0L), DevicePage.scan(mem, 0, 64));
        }
    }

    @Test
    void aRemovedDescriptorKeepsItsPlaceAndTheWalkStepsOverItToLaterOnes() throws Exception {
        try (MemfdMemory mem = MemfdMemory.allocate("abi", 2 * 4096)) {
            DevicePage page = new DevicePage(mem, 4096, 4096);
            long a = page.add(sample());
            long b = page.add(new LguestDeviceDesc(4, 0, List.of(new LguestVqConfig(64, 3, 0)), new byte[8], new byte[8], new byte[0]));
            long c = page.add(new LguestDeviceDesc(3, 0, List.of(), new byte[0], new byte[0], new byte[0]));
            byte[] bBefore = mem.read(b, 29);
            page.remove(b);
            assertEquals(0xFF, LguestDeviceDesc.TYPE_REMOVED);
            assertEquals(LguestDeviceDesc.TYPE_REMOVED, mem.readU8(b), "the type byte says removed");
            assertArrayEquals(java.util.Arrays.copyOfRange(bBefore, 1, 29), mem.read(b + 1, 28), "the rest of it stays: its size too");
            assertEquals(List.of(a, c), DevicePage.scan(mem, 4096, 4096), "stepped over, not the end of the list");
            assertEquals(3, LguestDeviceDesc.decode(mem.read(4096, 4096), (int) (c - 4096)).type(), "c did not move");

            DevicePage.Walk all = DevicePage.walk(mem, 4096, 4096, 4096);
            assertEquals(c + 5, all.end(), "the walk ends at the terminator");
            long d = page.add(new LguestDeviceDesc(2, 0, List.of(), new byte[0], new byte[0], new byte[0]));
            assertEquals(all.end(), d, "an added descriptor goes where the terminator was");
            assertEquals(new DevicePage.Walk(List.of(d), d + 5), DevicePage.walk(mem, 4096, 4096, all.end()),
                    "a walk from where the last one ended finds only what was added since");

            assertThrows(IllegalArgumentException.class, () -> page.remove(b), "removed once");
            assertThrows(IllegalArgumentException.class, () -> page.remove(a + 1), "not a descriptor");
            assertThrows(IllegalArgumentException.class, () -> DevicePage.walk(mem, 4096, 4096, 4095), "outside the page");
        }
    }

    @Test
    void requestsAreLittleEndianThirtyTwoBitWords() {
        byte[] init = new LhReq.Initialize(0x1000, 256, 0x100000).encode();
        assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0x10, 0}, init);
        assertArrayEquals(new byte[] {2, 0, 0, 0, 5, 0, 0, 0}, new LhReq.Irq(5).encode());
        assertArrayEquals(new byte[] {4, 0, 0, 0, 0, 0x20, 0, 0, 7, 0, 0, 0}, new LhReq.EventFd(0x2000, 7).encode());
        assertEquals(new LhReq.Initialize(0x1000, 256, 0x100000), LhReq.decode(init));
        assertEquals(new LhReq.Irq(5), LhReq.decode(new LhReq.Irq(5).encode()));
        assertEquals(new LhReq.EventFd(0x2000, 7), LhReq.decode(new LhReq.EventFd(0x2000, 7).encode()));
        assertEquals(new LhReq.EventFd(0x2000, -1), LhReq.decode(new LhReq.EventFd(0x2000, -1).encode()));
    }

    @Test
    void obsoleteRequestsAreRefusedSayingSo() {
        var getdma = assertThrows(LhReq.ObsoleteRequestException.class, () -> LhReq.decode(new byte[] {1, 0, 0, 0}));
        assertTrue(getdma.getMessage().contains("LHREQ_GETDMA is obsolete"), getdma.getMessage());
        var brk = assertThrows(LhReq.ObsoleteRequestException.class, () -> LhReq.decode(new byte[] {3, 0, 0, 0, 0, 0, 0, 0}));
        assertTrue(brk.getMessage().contains("LHREQ_BREAK is obsolete"), brk.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LhReq.decode(new byte[] {9, 0, 0, 0}));
        assertThrows(IllegalArgumentException.class, () -> LhReq.decode(new byte[6]));
        assertThrows(IllegalArgumentException.class, () -> LhReq.decode(new byte[] {0, 0, 0, 0, 1, 0, 0, 0}));
    }

    @Test
    void ringsAreLaidOutWithLguestVringAlign() {
        assertEquals(4096, LguestRing.LGUEST_VRING_ALIGN);
        VringLayout r = LguestRing.at(5, 64);
        assertEquals(5 * 4096, r.desc());
        assertEquals(5 * 4096 + 64 * 16, r.avail());
        assertEquals(6 * 4096, r.used(), "used ring starts at the next 4096 boundary");
        assertEquals(2, LguestRing.pages(64));
        VringLayout big = LguestRing.at(1, 256);
        // 4096 bytes of descriptors + 518 of avail ring round up to two pages.
        assertEquals(4096 + 2 * 4096, big.used());
    }
}

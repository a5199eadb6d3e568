package guestlab.memory;

import guestlab.testing.Footprint;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class GuestMemoryTest {
    @Test
    void valuesRoundTripLittleEndian() throws Exception {
        try (MemfdMemory m = MemfdMemory.allocate("t", 8192)) {
            m.writeU64(16, 0x0102030405060708L);
            assertEquals(0x08, m.readU8(16), "least significant byte first");
            assertEquals(0x0708, m.readU16(16));
            assertEquals(0x05060708L, m.readU32(16));
            assertEquals(0x0102030405060708L, m.readU64(16));
            m.writeU32(100, 0xffffffffL);
            assertEquals(0xffffffffL, m.readU32(100), "u32 reads unsigned");
            m.write(200, new byte[] {1, 2, 3});
            assertArrayEquals(new byte[] {1, 2, 3}, m.read(200, 3));
            assertEquals(8192, m.limit());
        }
    }

    @Test
    void everyAccessOutsideGuestRamIsRefusedAndChangesNothing() throws Exception {
        try (MemfdMemory m = MemfdMemory.allocate("t", 4096)) {
            m.writeU32(4092, 0x11223344);
            assertThrows(GuestMemoryException.class, () -> m.readU8(4096));
            assertThrows(GuestMemoryException.class, () -> m.writeU64(4090, -1), "straddles the end");
            assertThrows(GuestMemoryException.class, () -> m.readU16(-1));
            assertThrows(GuestMemoryException.class, () -> m.slice(0, 4097));
            assertThrows(GuestMemoryException.class, () -> m.slice(4000, Long.MAX_VALUE));
            assertThrows(GuestMemoryException.class, () -> m.readU32(Long.MAX_VALUE - 1), "no overflow wrap");
            assertThrows(GuestMemoryException.class, () -> m.write(4095, new byte[2]));
            assertEquals(0x11223344L, m.readU32(4092), "the refused straddling write wrote nothing");
            var e = assertThrows(GuestMemoryException.class, () -> m.readU8(0x5000));
            assertTrue(e.getMessage().contains("0x5000") && e.getMessage().contains("outside guest memory"));
        }
    }

    @Test
    void aSliceCannotReachPastItsRange() throws Exception {
        try (MemfdMemory m = MemfdMemory.allocate("t", 4096)) {
            var s = m.slice(100, 10);
            assertEquals(10, s.byteSize());
            assertThrows(IndexOutOfBoundsException.class, () -> s.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 10));
        }
    }

    @Test
    void allocateAndCloseLeaveNoFileDescriptors() throws Exception {
        MemfdMemory.allocate("warm", 4096).close();
        Footprint opened = Footprint.take();
        for (int i = 0; i < 100; i++) {
            try (MemfdMemory m = MemfdMemory.allocate("cycle", 1 << 16)) {
                m.writeU8(0, i);
                if (i == 0) assertEquals(1, opened.newFdsOf("/memfd:cycle"), () -> "the memfd while open: " + opened.newFds());
            }
        }
        assertEquals(List.of(), opened.newFds(), "every memfd closed");
    }

    @Test
    void afterCloseEveryAccessIsAClearErrorNotACrash() {
        MemfdMemory m = MemfdMemory.allocate("t", 8192, "guest t is stopped");
        var slice = m.slice(0, 64);
        m.close();
        assertTrue(m.isClosed());
        var e = assertThrows(GuestMemoryClosedException.class, () -> m.readU16(0));
        assertEquals("guest t is stopped", e.getMessage());
        assertThrows(GuestMemoryClosedException.class, () -> m.writeU64(0, 1));
        assertThrows(GuestMemoryClosedException.class, () -> m.read(0, 16));
        assertThrows(GuestMemoryClosedException.class, () -> m.slice(0, 16));
        assertThrows(IllegalStateException.class, () -> slice.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0),
                "a segment handed out before close is dead too");
        m.close(); // idempotent
    }

    @Test
    void abandonedMemoryRefusesAccessButStaysMappedForAThreadThatCouldNotBeStopped() {
        MemfdMemory m = MemfdMemory.allocate("t", 8192, "guest t is stopped");
        var slice = m.slice(0, 64);
        m.abandon();
        assertThrows(GuestMemoryClosedException.class, () -> m.readU8(0));
        slice.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 7); // still mapped: no fault, no crash
        assertEquals(7, slice.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void closingUnderAReaderStopsTheReaderWithAnError() throws Exception {
        MemfdMemory m = MemfdMemory.allocate("t", 1 << 20, "guest t is stopped");
        var started = new java.util.concurrent.CountDownLatch(1);
        var outcome = new java.util.concurrent.CompletableFuture<Throwable>();
        Thread reader = Thread.ofPlatform().start(() -> {
            started.countDown();
            try {
                while (true) m.read(0, 1 << 20);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        started.await();
        m.close();
        Throwable t = outcome.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertInstanceOf(GuestMemoryClosedException.class, t);
        reader.join();
    }

    @Test
    void badSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> MemfdMemory.allocate("t", 1000));
        assertThrows(IllegalArgumentException.class, () -> MemfdMemory.allocate("t", 0));
    }
}

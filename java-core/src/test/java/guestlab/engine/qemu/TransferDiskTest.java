package guestlab.engine.qemu;

import guestlab.testing.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The transfer disk's host side, without a guest: what it costs the host, what goes in comes out, one transfer at a time. */
class TransferDiskTest {
    @TempDir
    Path runDir;

    @Test
    void itIsAFileInTheRunDirectoryThatHoldsNoDataUntilATransferAndIsGoneAtClose() throws Exception {
        Path area = runDir.resolve(TransferDisk.DIRECTORY).resolve(TransferDisk.SERIAL);
        try (TransferDisk disk = TransferDisk.create("g", runDir)) {
            assertEquals(0, Files.size(area), "no block of the host's disk is used before a transfer");
            assertTrue(Files.exists(disk.socket()));
        }
        assertFalse(Files.exists(area.getParent()), "its directory is gone");
    }

    @Test
    void whatIsFilledInIsDrainedOutWithTheSameDigestAndTheFileIsEmptiedAfter() throws Exception {
        byte[] data = new byte[(3 << 20) + 12345];
        new Random(1).nextBytes(data);
        try (TransferDisk disk = TransferDisk.create("g", runDir)) {
            disk.acquire();
            MessageDigest in = MessageDigest.getInstance("SHA-256"), out = MessageDigest.getInstance("SHA-256");
            disk.fill(Channels.newChannel(new java.io.ByteArrayInputStream(data)), data.length, in);
            ByteArrayOutputStream drained = new ByteArrayOutputStream();
            disk.drain(Channels.newChannel(drained), data.length + 100, out);
            byte[] got = drained.toByteArray();
            assertArrayEquals(data, Arrays.copyOf(got, data.length));
            assertArrayEquals(new byte[100], Arrays.copyOfRange(got, data.length, got.length), "past what was filled: zeros, as the guest reads them");
            disk.release();
            assertEquals(0, Files.size(runDir.resolve(TransferDisk.DIRECTORY).resolve(TransferDisk.SERIAL)), "the file is emptied after a transfer");
            assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(data), in.digest());
        }
    }

    @Test
    void aPieceLargerThanTheDiskIsRefused() throws Exception {
        try (TransferDisk disk = TransferDisk.create("g", runDir)) {
            assertThrows(IllegalArgumentException.class, () -> disk.drain(Channels.newChannel(new ByteArrayOutputStream()),
                    TransferDisk.CAPACITY + 1, MessageDigest.getInstance("SHA-256")));
        }
    }

    @Test
    void aSecondTransferWaitsForTheFirst() throws Exception {
        try (TransferDisk disk = TransferDisk.create("g", runDir)) {
            disk.acquire();
            Thread second = Thread.ofPlatform().start(() -> {
                disk.acquire();
                try {
                    disk.release();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Await.until("the second transfer to wait", second::getState, s -> s == Thread.State.WAITING);
            disk.release();
            second.join(10_000);
            assertFalse(second.isAlive(), "the second transfer ran once the first was done");
        }
    }
}

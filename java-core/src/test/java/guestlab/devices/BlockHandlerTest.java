package guestlab.devices;

import guestlab.engine.sim.BlockIoException;
import guestlab.engine.sim.SimBlockDriver;
import guestlab.engine.sim.SimGuest;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.launcher.Launcher;
import guestlab.virtio.block.BlockCompletion;
import guestlab.virtio.block.BlockRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static guestlab.virtio.block.BlockSpec.S_IOERR;
import static org.junit.jupiter.api.Assertions.*;

/** A handler swapped into a running block device decides what a simulated guest's driver sees. */
class BlockHandlerTest {
    @TempDir
    Path dir;
    private final Launcher launcher = new Launcher();

    @AfterEach
    void stop() {
        launcher.stopAll();
    }

    @Test
    void aHandlerThatFailsWritesMakesTheDriverSeeIoErrorsWhileReadsStillWork() throws Exception {
        byte[] content = new byte[64 * 1024];
        new Random(3).nextBytes(content);
        Path img = dir.resolve("disk.img");
        Files.write(img, content);
        SimGuest g = (SimGuest) launcher.start(new GuestSpec("faulty", "sim", 16 << 20, List.of(
                new DeviceSpec("block", null, Map.of("file", img.toString(), "read-only", false)))));
        SimBlockDriver disk = g.block("block0");
        BlockDevice device = (BlockDevice) g.device("block0");
        BlockHandler own = device.handler();

        device.setHandler(r -> r instanceof BlockRequest.Write ? BlockCompletion.IOERR : own.handle(r));
        BlockIoException e = assertThrows(BlockIoException.class, () -> disk.write(4, new byte[512]));
        assertEquals(S_IOERR, e.status());
        assertArrayEquals(Arrays.copyOfRange(content, 0, 4096), disk.read(0, 4096), "reads still reach the image");
        disk.flush();
        assertArrayEquals(content, Files.readAllBytes(img), "the failed write left the image alone");

        device.setHandler(own);
        byte[] data = new byte[512];
        Arrays.fill(data, (byte) 0x77);
        disk.write(4, data);
        assertArrayEquals(data, disk.read(4, 512), "the device's own handler is back");
    }
}

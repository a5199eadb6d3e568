package guestlab.image;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The real kit with ext4 and e2fsprogs added, as a guest spec asks for them; built in the user's
 * cache (as a guest would build it), so a later boot of the same spec finds it there.
 */
class ExtendedInitramfsTest {
    @Test
    void theKitGainsTheModulesAndPackagesAndKeepsBusyboxInCharge() throws Exception {
        List<String> progress = new ArrayList<>();
        DebianKit kit = new DebianKit(DebianKit.defaultCache(), progress::add);
        GuestKit extended = kit.with(List.of("ext4"), List.of("e2fsprogs"));
        assertEquals(kit.get().kernel(), extended.kernel());
        assertNotEquals(kit.get().initrd(), extended.initrd());

        CpioEntries root = CpioEntries.of(extended.initrd());
        List<String> order = List.of(root.text("etc/guestlab-modules").strip().split("\n"));
        assertEquals("ext4.ko", order.getLast(), "the asked-for module last, after what it needs: " + order);
        assertTrue(order.indexOf("jbd2.ko") < order.indexOf("ext4.ko") && order.contains("crc32c_generic.ko"), order.toString());
        assertTrue(order.indexOf("virtio_pci.ko") >= 0, "the virtio modules still load: " + order);
        for (String ko : order) assertTrue(root.get("usr/lib/modules/" + ko).isRegularFile(), ko);

        assertEquals(0755, root.mode("usr/sbin/mke2fs"));
        assertTrue(root.get("usr/sbin/mkfs.ext4").isSymbolicLink());
        assertTrue(root.get("usr/lib/x86_64-linux-gnu/libext2fs.so.2").isSymbolicLink(), "libext2fs2's library");
        assertEquals("busybox", root.text("usr/bin/sh"), "busybox's sh, whatever the packages ship");
        assertEquals("\u007fELF", root.text("usr/bin/busybox").substring(0, 4));
        assertTrue(root.text("init").contains("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        assertTrue(root.text("init").contains("echo " + GuestKit.INIT_MARKER));

        List<String> again = new ArrayList<>();
        GuestKit second = new DebianKit(DebianKit.defaultCache(), again::add).with(List.of("ext4"), List.of("e2fsprogs"));
        assertEquals(extended, second, "the same modules and packages boot the same file");
        assertTrue(again.stream().noneMatch(l -> l.startsWith("building") || l.startsWith("downloading")), again.toString());
    }

    @Test
    void aModuleTheKernelDoesNotHaveIsRefusedWithTheNamesNearIt() throws Exception {
        DebianKit kit = RealKit.kit();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kit.with(List.of("ext5", "xfs"), List.of()));
        assertEquals("kernel module ext5 (did you mean ext4?) is not in Debian's " + kit.get().kernelVersion() + " kernel",
                e.getMessage());
    }
}

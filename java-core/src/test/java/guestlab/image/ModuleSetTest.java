package guestlab.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ModuleSetTest {
    @TempDir
    Path dir;

    /** A module file: an ELF file whose .modinfo says these things. */
    private void ko(String file, String name, String depends) throws Exception {
        Path p = dir.resolve("kernel/drivers").resolve(file);
        Files.createDirectories(p.getParent());
        Files.write(p, ElfModule.of("license=GPL", "depends=" + depends, "retpoline=Y", "name=" + name, "vermagic=6.1.0"));
    }

    @Test
    void loadOrderPutsDependenciesFirst() throws Exception {
        ko("virtio_ring.ko", "virtio_ring", "");
        ko("virtio.ko", "virtio", "virtio_ring");
        ko("virtio_pci.ko", "virtio_pci", "virtio_pci_modern_dev,virtio,virtio_ring");
        ko("virtio_pci_modern_dev.ko", "virtio_pci_modern_dev", "");
        ko("virtio-rng.ko", "virtio_rng", "virtio,virtio_ring");
        ModuleSet set = ModuleSet.scan(dir);
        List<String> order = files(set.loadOrder(List.of("virtio_pci", "virtio-rng")));
        assertEquals(List.of("virtio_pci_modern_dev.ko", "virtio_ring.ko", "virtio.ko", "virtio_pci.ko", "virtio-rng.ko"), order);
        assertEquals(List.of(), set.unknown(List.of("virtio-rng", "virtio_rng")), "- and _ are the same in a module name");
    }

    @Test
    void aMissingModuleIsNamed() throws Exception {
        ko("virtio_blk.ko", "virtio_blk", "virtio_ring");
        var e = assertThrows(IllegalArgumentException.class, () -> ModuleSet.scan(dir).loadOrder(List.of("virtio_blk")));
        assertTrue(e.getMessage().contains("virtio_ring"));
    }

    @Test
    void circularDependenciesAreRefused() throws Exception {
        ko("a.ko", "a", "b");
        ko("b.ko", "b", "a");
        assertThrows(IllegalStateException.class, () -> ModuleSet.scan(dir).loadOrder(List.of("a")));
    }

    // --- Debian's kernel -----------------------------------------------------------------------

    private static List<String> files(List<String> paths) {
        return paths.stream().map(p -> p.substring(p.lastIndexOf('/') + 1)).toList();
    }

    @Test
    void ext4ComesWithWhatItLinksAgainstAndTheChecksumItAsksFor() throws Exception {
        List<String> order = files(RealKit.modules().loadOrder(List.of("ext4")));
        assertEquals("ext4.ko", order.getLast(), order.toString());
        for (String dep : List.of("crc16.ko", "mbcache.ko", "jbd2.ko", "crc32c_generic.ko")) {
            assertTrue(order.contains(dep), dep + " before ext4 in " + order);
        }
        assertTrue(order.indexOf("crc32c_generic.ko") < order.indexOf("jbd2.ko"),
                "jbd2's soft dependency (crypto-crc32c) is loaded before it: " + order);
        assertFalse(order.contains("crc32c-intel.ko"), "the generic crc32c, not the one needing SSE4.2: " + order);
    }

    @Test
    void everyFilesystemOfTheIssueIsThereWithItsDependencies() throws Exception {
        ModuleSet mods = RealKit.modules();
        assertEquals(List.of(), mods.unknown(List.of("ext4", "xfs", "btrfs", "vfat", "9p")));
        List<String> order = files(mods.loadOrder(List.of("9p")));
        assertEquals(List.of("netfs.ko", "fscache.ko", "9pnet.ko", "9p.ko").stream().sorted().toList(),
                order.stream().sorted().toList(), "9p and what it depends on: " + order);
        assertTrue(files(mods.loadOrder(List.of("vfat"))).containsAll(List.of("fat.ko", "vfat.ko")));
        assertEquals(List.of("ext5", "no-such-module"), mods.unknown(List.of("ext5", "no-such-module", "virtio-rng")));
        assertEquals(List.of(), mods.loadOrder(List.of("sha256_generic")), "built in: nothing to load");
    }

    @Test
    void theIndexReadsBackAsTheSameModules() throws Exception {
        ModuleSet mods = RealKit.modules();
        Path index = dir.resolve("modules.index");
        mods.write(index);
        ModuleSet again = ModuleSet.read(index);
        List<String> all = List.of("ext4", "xfs", "btrfs", "vfat", "9p", "virtio_net", "virtio_pci");
        assertEquals(mods.loadOrder(all), again.loadOrder(all));
        assertEquals(mods.names(), again.names());
    }
}

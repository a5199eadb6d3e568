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

    /** A file shaped like a module: some bytes, then a .modinfo-style run of NUL-separated strings. */
    private void ko(String file, String name, String depends) throws Exception {
        String modinfo = "\0license=GPL\0depends=" + depends + "\0retpoline=Y\0name=" + name + "\0vermagic=6.1.0\0";
        Path p = dir.resolve("kernel/drivers").resolve(file);
        Files.createDirectories(p.getParent());
        Files.write(p, ("\u007fELF....." + modinfo).getBytes());
    }

    @Test
    void loadOrderPutsDependenciesFirst() throws Exception {
        ko("virtio_ring.ko", "virtio_ring", "");
        ko("virtio.ko", "virtio", "virtio_ring");
        ko("virtio_pci.ko", "virtio_pci", "virtio_pci_modern_dev,virtio,virtio_ring");
        ko("virtio_pci_modern_dev.ko", "virtio_pci_modern_dev", "");
        ko("virtio-rng.ko", "virtio_rng", "virtio,virtio_ring");
        ModuleSet set = ModuleSet.scan(dir);
        List<String> order = set.loadOrder(List.of("virtio_pci", "virtio-rng")).stream()
                .map(p -> p.getFileName().toString()).toList();
        assertEquals(List.of("virtio_pci_modern_dev.ko", "virtio_ring.ko", "virtio.ko", "virtio_pci.ko", "virtio-rng.ko"), order);
        assertTrue(set.has("virtio-rng"));
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
}

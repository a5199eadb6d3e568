package guestlab.engine.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class AcceleratorTest {
    /**
     * The rule, on whatever host runs the tests: KVM only with kvm_intel or kvm_amd loaded and a
     * usable /dev/kvm; otherwise TCG, with a reason that names what is missing.
     */
    @Test
    void thisMachineFollowsTheRuleAndSaysWhy() {
        Accelerator a = Accelerator.choose();
        System.out.println("Accelerator.choose(): " + a.name() + " -- " + a.reason());
        boolean hw = Files.isDirectory(Path.of("/sys/module/kvm_intel")) || Files.isDirectory(Path.of("/sys/module/kvm_amd"));
        Path dev = Path.of("/dev/kvm");
        boolean usable = Files.exists(dev) && Files.isReadable(dev) && Files.isWritable(dev);
        if (hw && usable) {
            assertEquals("kvm", a.name());
            assertTrue(a.reason().matches("KVM: kvm_(intel|amd) loaded"), a.reason());
        } else {
            assertEquals("tcg", a.name());
            assertTrue(a.reason().startsWith("TCG: "), a.reason());
            assertTrue(a.reason().contains("/dev/kvm") || a.reason().contains("kvm_intel nor kvm_amd"),
                    "the reason names the cause: " + a.reason());
        }
    }

    @Test
    void kvmPvmWithoutDevKvmMeansTcgForWantOfDevKvm(@TempDir Path host) throws IOException {
        Files.createDirectories(host.resolve("sys/kvm_pvm"));
        Accelerator a = Accelerator.choose(host.resolve("none"), host.resolve("sys"), host.resolve("kvm"));
        assertEquals(Accelerator.tcg("no " + host.resolve("kvm")), a);
    }

    @Test
    void kvmIntelWithAUsableDevKvmMeansKvm(@TempDir Path host) throws IOException {
        Path mods = Files.writeString(host.resolve("modules"), "kvm_intel 409600 0 - Live 0x0\nkvm 1146880 1 kvm_intel, Live 0x0\n");
        Path dev = Files.createFile(host.resolve("kvm"));
        Accelerator a = Accelerator.choose(mods, host.resolve("sys"), dev);
        assertEquals(new Accelerator("kvm", "KVM: kvm_intel loaded"), a);
    }

    @Test
    void kvmAmdFromSysModuleWhenThereIsNoProcModules(@TempDir Path host) throws IOException {
        Files.createDirectories(host.resolve("sys/kvm_amd"));
        Path dev = Files.createFile(host.resolve("kvm"));
        assertEquals("KVM: kvm_amd loaded", Accelerator.choose(host.resolve("none"), host.resolve("sys"), dev).reason());
    }

    @Test
    void kvmPvmMeansTcg(@TempDir Path host) throws IOException {
        Files.createDirectories(host.resolve("sys/kvm_pvm"));
        Path dev = Files.createFile(host.resolve("kvm"));
        Accelerator a = Accelerator.choose(host.resolve("none"), host.resolve("sys"), dev);
        assertEquals("tcg", a.name());
        assertTrue(a.reason().endsWith("is kvm_pvm, which cannot run a stock kernel"), a.reason());
    }

    @Test
    void noDevKvmMeansTcg(@TempDir Path host) throws IOException {
        Path mods = Files.writeString(host.resolve("modules"), "kvm_amd 1 0 - Live 0x0\n");
        Accelerator a = Accelerator.choose(mods, host.resolve("sys"), host.resolve("kvm"));
        assertEquals("tcg", a.name());
        assertTrue(a.reason().contains("kvm_amd is loaded but"), a.reason());
        assertEquals("TCG: no " + host.resolve("kvm"),
                Accelerator.choose(host.resolve("none"), host.resolve("sys"), host.resolve("kvm")).reason());
    }
}

package guestlab.engine.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Which QEMU accelerator runs the guest CPU, and why. KVM only where the host has real hardware
 * virtualisation (kvm_intel or kvm_amd loaded) and /dev/kvm is usable; TCG otherwise. A
 * {@code kvm_pvm} /dev/kvm (software nested virtualisation) cannot run a stock Linux kernel.
 *
 * @param name   "kvm" or "tcg", as QEMU's {@code -accel} spells it
 * @param reason one human sentence, e.g. "KVM: kvm_intel loaded"
 */
public record Accelerator(String name, String reason) {
    public static final String KVM = "kvm";
    public static final String TCG = "tcg";

    public Accelerator {
        if (!KVM.equals(name) && !TCG.equals(name)) throw new IllegalArgumentException("accelerator must be kvm or tcg: " + name);
    }

    /** TCG, whatever the host has (for tests that must not depend on it). */
    public static Accelerator tcg(String reason) {
        return new Accelerator(TCG, "TCG: " + reason);
    }

    /** The choice for this host, from /proc/modules (or /sys/module) and /dev/kvm. */
    public static Accelerator choose() {
        return choose(Path.of("/proc/modules"), Path.of("/sys/module"), Path.of("/dev/kvm"));
    }

    /** The choice given where to look; the paths are parameters so tests can fake a host. */
    static Accelerator choose(Path procModules, Path sysModule, Path devKvm) {
        Set<String> loaded = loadedModules(procModules, sysModule);
        String hw = loaded.contains("kvm_intel") ? "kvm_intel" : loaded.contains("kvm_amd") ? "kvm_amd" : null;
        boolean devUsable = Files.exists(devKvm) && Files.isReadable(devKvm) && Files.isWritable(devKvm);
        if (hw != null && devUsable) return new Accelerator(KVM, "KVM: " + hw + " loaded");
        if (hw != null) return tcg(hw + " is loaded but " + devKvm + " is missing or not accessible");
        if (loaded.contains("kvm_pvm") && Files.exists(devKvm)) {
            return tcg(devKvm + " is kvm_pvm, which cannot run a stock kernel");
        }
        if (!Files.exists(devKvm)) return tcg("no " + devKvm);
        return tcg("neither kvm_intel nor kvm_amd is loaded");
    }

    /** Module names from /proc/modules (first word of each line); else the entries of /sys/module. */
    private static Set<String> loadedModules(Path procModules, Path sysModule) {
        Set<String> names = new HashSet<>();
        try {
            if (Files.isReadable(procModules)) {
                for (String line : Files.readAllLines(procModules)) {
                    int sp = line.indexOf(' ');
                    if (sp > 0) names.add(line.substring(0, sp));
                }
            }
        } catch (IOException ignored) {
            // fall through to /sys/module
        }
        // /sys/module also lists built-in modules; some containers have no /proc/modules at all.
        for (String m : new String[] {"kvm_intel", "kvm_amd", "kvm_pvm"}) {
            if (Files.isDirectory(sysModule.resolve(m))) names.add(m);
        }
        return names;
    }

    @Override
    public String toString() {
        return reason;
    }
}

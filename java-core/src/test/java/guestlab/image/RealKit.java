package guestlab.image;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The real Debian kit in this user's cache (fetched with apt on first use, as a guest would), for
 * tests that read its packages: the kernel's modules, busybox.
 */
final class RealKit {
    private static DebianKit kit;
    private static ModuleSet modules;

    private RealKit() {}

    static synchronized DebianKit kit() {
        if (kit == null) kit = new DebianKit(DebianKit.defaultCache(), line -> System.out.println("guestlab: " + line));
        return kit;
    }

    static Path debs() {
        return DebianKit.defaultCache().resolve("debs");
    }

    static Path kernelDeb() throws IOException {
        return debs().resolve(kit().manifest().kernelPackage().debFileName());
    }

    /** The kernel's modules, from the kit's index (made from the package the first time). */
    static synchronized ModuleSet modules() throws IOException {
        if (modules == null) {
            modules = ModuleSet.indexed(kit().directory().resolve("modules.index"), kernelDeb(), System.out::println);
        }
        return modules;
    }
}

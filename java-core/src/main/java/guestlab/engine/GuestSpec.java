package guestlab.engine;

import java.nio.file.Path;
import java.util.List;

/**
 * What to run: a name, an engine ("sim" or "qemu"), guest RAM in bytes, devices in bus order,
 * and for the qemu engine, optionally, either a kernel and initrd of the user's own instead of the
 * Debian kit (both or neither), or a kit lock file (./guestlab kit lock) naming exactly which
 * Debian kit to boot; and kernel modules (by name) and Debian packages (by name) to add to the
 * Debian kit's initramfs, with what they depend on.
 */
public record GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices, Path kernel, Path initrd,
                        Path kit, List<String> modules, List<String> packages) {
    public GuestSpec {
        devices = List.copyOf(devices);
        modules = modules == null ? List.of() : List.copyOf(modules);
        packages = packages == null ? List.of() : List.copyOf(packages);
        if ((kernel == null) != (initrd == null)) {
            throw new IllegalArgumentException("give both a kernel and an initrd, or neither (then the Debian kit is used)");
        }
        if (kit != null && kernel != null) {
            throw new IllegalArgumentException("give a kit lock or a kernel and an initrd, not both (the lock names a Debian kernel)");
        }
    }

    public GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices, Path kernel, Path initrd, Path kit) {
        this(name, engine, memoryBytes, devices, kernel, initrd, kit, List.of(), List.of());
    }

    public GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices, Path kernel, Path initrd) {
        this(name, engine, memoryBytes, devices, kernel, initrd, null);
    }

    public GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices) {
        this(name, engine, memoryBytes, devices, null, null, null);
    }

    /** Whether the Debian kit's initramfs gets more than the virtio modules and busybox. */
    public boolean extendsKit() {
        return !modules.isEmpty() || !packages.isEmpty();
    }
}

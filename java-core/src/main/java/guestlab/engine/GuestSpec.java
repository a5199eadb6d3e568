package guestlab.engine;

import java.nio.file.Path;
import java.util.List;

/**
 * What to run: a name, an engine ("sim" or "qemu"), guest RAM in bytes, devices in bus order,
 * and for the qemu engine, optionally, either a kernel and initrd of the user's own instead of the
 * Debian kit (both or neither), or a kit lock file (./guestlab kit lock) naming exactly which
 * Debian kit to boot.
 */
public record GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices, Path kernel, Path initrd,
                        Path kit) {
    public GuestSpec {
        devices = List.copyOf(devices);
        if ((kernel == null) != (initrd == null)) {
            throw new IllegalArgumentException("give both a kernel and an initrd, or neither (then the Debian kit is used)");
        }
        if (kit != null && kernel != null) {
            throw new IllegalArgumentException("give a kit lock or a kernel and an initrd, not both (the lock names a Debian kernel)");
        }
    }

    public GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices, Path kernel, Path initrd) {
        this(name, engine, memoryBytes, devices, kernel, initrd, null);
    }

    public GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices) {
        this(name, engine, memoryBytes, devices, null, null, null);
    }
}

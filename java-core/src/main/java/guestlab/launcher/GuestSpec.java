package guestlab.launcher;

import java.nio.file.Path;
import java.util.List;

/**
 * What to run: a name, an engine ("sim" or "qemu"), guest RAM in bytes, devices in bus order,
 * and for the qemu engine, optionally, a kernel and initrd of the user's own instead of the
 * Debian kit (both or neither).
 */
public record GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices, Path kernel, Path initrd) {
    public GuestSpec {
        devices = List.copyOf(devices);
        if ((kernel == null) != (initrd == null)) {
            throw new IllegalArgumentException("give both a kernel and an initrd, or neither (then the Debian kit is used)");
        }
    }

    public GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices) {
        this(name, engine, memoryBytes, devices, null, null);
    }
}

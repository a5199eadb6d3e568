package guestlab.launcher;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Checks a guest spec before anything is built, with messages that name the field at fault. */
final class SpecCheck {
    private SpecCheck() {}

    static final Set<String> KINDS = Set.of("console", "block", "net", "rng");

    static void validate(GuestSpec spec) {
        if (spec.name() == null || spec.name().isBlank() || !spec.name().matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("guest name must be letters, digits, '.', '_' or '-', not '" + spec.name() + "'");
        }
        if (spec.memoryBytes() < (1 << 20) || spec.memoryBytes() % 4096 != 0) {
            throw new IllegalArgumentException("memory must be at least 1 MiB and a multiple of 4096 bytes, not "
                    + spec.memoryBytes());
        }
        Set<String> names = new HashSet<>();
        for (DeviceSpec d : named(spec.devices())) {
            if (!KINDS.contains(d.kind())) {
                throw new IllegalArgumentException("device kind must be one of " + KINDS + ", not " + d.kind());
            }
            if (!names.add(d.name())) throw new IllegalArgumentException("two devices are named " + d.name());
            if (d.kind().equals("block") && d.options().get("file") == null) {
                throw new IllegalArgumentException("block device " + d.name() + " needs a file option (the disk image)");
            }
        }
    }

    /** The devices with default names filled in: kind + ordinal among its kind ("block0"). */
    static List<DeviceSpec> named(List<DeviceSpec> devices) {
        Map<String, Integer> seen = new HashMap<>();
        List<DeviceSpec> out = new ArrayList<>();
        for (DeviceSpec d : devices) {
            int n = seen.merge(d.kind(), 1, Integer::sum) - 1;
            out.add(d.name() == null || d.name().isBlank() ? new DeviceSpec(d.kind(), d.kind() + n, d.options()) : d);
        }
        return out;
    }
}

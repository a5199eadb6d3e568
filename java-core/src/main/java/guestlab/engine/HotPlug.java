package guestlab.engine;

import java.util.Collection;
import java.util.List;

/**
 * What hot-plug is on every engine: which devices a running guest can take, and the name a
 * plugged device gets. Each engine then attaches it its own way (a PCIe slot, the lguest page).
 */
public final class HotPlug {
    private HotPlug() {}

    /** The kinds of device a running guest can take. */
    public static final List<String> KINDS = List.of("block", "net", "rng");

    /**
     * {@code spec} checked for plugging into guest {@code guest} of engine {@code engine}, which
     * has {@code devices} now, and named: its own name, or its kind and the lowest number no
     * device of the guest has ({@code block1} beside a {@code block0}; a name is free again once
     * its device is unplugged).
     */
    public static DeviceSpec named(String guest, String engine, DeviceSpec spec, Collection<String> devices) {
        if (spec == null) throw new IllegalArgumentException("no device to plug into " + guest);
        if (!KINDS.contains(spec.kind())) {
            throw new IllegalArgumentException("engine " + engine + " cannot hot-plug a " + spec.kind() + " device (it can: "
                    + String.join(" ", KINDS) + ")");
        }
        if (spec.options().get(DeviceSpec.VHOST_USER) != null || spec.rootDisk() || spec.ephemeral()) {
            throw new IllegalArgumentException("a hot-plugged device is guestlab's own, on a :file; :vhost-user, :rootfs and :ephemeral"
                    + " are for the devices a guest starts with");
        }
        DeviceSpec d = spec.name() == null || spec.name().isBlank() ? new DeviceSpec(spec.kind(), freeName(spec.kind(), devices), spec.options()) : spec;
        DeviceOptions.check(d);
        if (devices.contains(d.name())) throw new IllegalArgumentException(guest + " already has a device " + d.name());
        return d;
    }

    private static String freeName(String kind, Collection<String> taken) {
        for (int i = 0; ; i++) if (!taken.contains(kind + i)) return kind + i;
    }
}

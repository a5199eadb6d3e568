package guestlab.engine;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One device of a guest spec.
 *
 * @param kind    "console", "block", "net" or "rng"
 * @param name    unique within the guest; defaults to kind + ordinal ("block0", "net1")
 * @param options kind-specific: block {file, read-only} or, in a sim guest, {vhost-user: the socket
 *                of a back-end that serves the disk}; net {switch, mac}; console {host: "buffer" |
 *                "stdio"}; rng none
 */
public record DeviceSpec(String kind, String name, Map<String, Object> options) {
    /** The block option naming a vhost-user back-end's socket: the sim guest drives it as a front-end. */
    public static final String VHOST_USER = "vhost-user";

    public DeviceSpec {
        options = Map.copyOf(options);
    }

    /** The devices with default names filled in: kind + ordinal among its kind ("block0"). */
    public static List<DeviceSpec> withDefaultNames(List<DeviceSpec> devices) {
        Map<String, Integer> seen = new HashMap<>();
        List<DeviceSpec> out = new ArrayList<>();
        for (DeviceSpec d : devices) {
            int n = seen.merge(d.kind(), 1, Integer::sum) - 1;
            out.add(d.name() == null || d.name().isBlank() ? new DeviceSpec(d.kind(), d.kind() + n, d.options()) : d);
        }
        return out;
    }
}

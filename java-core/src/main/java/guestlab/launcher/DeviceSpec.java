package guestlab.launcher;

import java.util.Map;

/**
 * One device of a guest spec.
 *
 * @param kind    "console", "block", "net" or "rng"
 * @param name    unique within the guest; defaults to kind + ordinal ("block0", "net1")
 * @param options kind-specific: block {file, read-only}; net {switch, mac}; console {host:
 *                "buffer" | "stdio"}; rng none
 */
public record DeviceSpec(String kind, String name, Map<String, Object> options) {
    public DeviceSpec {
        options = Map.copyOf(options);
    }
}

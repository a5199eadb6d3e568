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
 * @param options kind-specific: block {file, read-only, queues, ephemeral (a qemu guest's disk is a
 *                copy of the file, deleted when it stops), rootfs (a Debian root disk the qemu guest
 *                boots: {release, packages, size})} or {vhost-user: the socket of a back-end that
 *                serves the disk: a sim guest drives it as a front-end, a qemu guest's QEMU connects
 *                to it} or {handler, size: a disk whose requests a BlockHandler serves}; net {switch, mac};
 *                console {host: "buffer" | "stdio"}; rng {vhost-user} or {handler: an RngHandler, the
 *                entropy source}
 */
public record DeviceSpec(String kind, String name, Map<String, Object> options) {
    /** The block option naming a vhost-user back-end's socket: the sim guest drives it as a front-end. */
    public static final String VHOST_USER = "vhost-user";
    /** The block option that makes a disk a Debian root disk the guest boots: a map {release, packages, size}. */
    public static final String ROOTFS = "rootfs";
    /** The block option that gives a qemu guest a copy of its disk's file, deleted when it stops. */
    public static final String EPHEMERAL = "ephemeral";
    /**
     * The block option that makes a disk whose storage is code, not a file: a
     * {@link guestlab.devices.BlockHandler} that serves every request, with {@link #SIZE} bytes.
     */
    public static final String HANDLER = "handler";
    /** The size in bytes of a block device served by a {@link #HANDLER}. */
    public static final String SIZE = "size";

    public DeviceSpec {
        options = Map.copyOf(options);
    }

    /** Whether this is a block device whose file is a copy made for the guest (ephemeral true). */
    public boolean ephemeral() {
        return Boolean.TRUE.equals(options.get(EPHEMERAL));
    }

    /** Whether this is the Debian root disk the guest boots. */
    public boolean rootDisk() {
        return options.containsKey(ROOTFS);
    }

    /** The same device with one option set. */
    public DeviceSpec with(String option, Object value) {
        Map<String, Object> o = new HashMap<>(options);
        o.put(option, value);
        return new DeviceSpec(kind, name, o);
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

package guestlab.engine;

import guestlab.devices.BlockDevice;
import guestlab.devices.BlockHandler;
import guestlab.devices.RngHandler;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The options each device kind takes, and the check of one device's options against them, with
 * messages that name the option at fault: for the devices of a spec before a guest starts, and
 * for a device plugged into a running guest.
 */
public final class DeviceOptions {
    private DeviceOptions() {}

    /** The options each device kind takes; anything else is a typo the user should hear about. */
    private static final Map<String, Set<String>> OPTIONS = Map.of(
            "console", Set.of("host"),
            "block", Set.of("file", "read-only", "queues", DeviceSpec.VHOST_USER, DeviceSpec.ROOTFS, DeviceSpec.EPHEMERAL,
                    DeviceSpec.HANDLER, DeviceSpec.SIZE),
            "net", Set.of("switch", "mac"),
            "rng", Set.of(DeviceSpec.VHOST_USER, DeviceSpec.HANDLER));
    private static final Set<String> KINDS = new TreeSet<>(OPTIONS.keySet());
    private static final Pattern MAC = Pattern.compile("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}");

    /**
     * Checks device {@code d} (named already): a kind guestlab has, only options of that kind,
     * each of the right shape. What depends on the rest of the guest (a root disk, an engine's
     * limits) is the caller's to check.
     */
    public static void check(DeviceSpec d) {
        if (!KINDS.contains(d.kind())) {
            throw new IllegalArgumentException("device kind must be one of " + KINDS + ", not " + d.kind());
        }
        Map<String, Object> o = d.options();
        String what = d.kind() + " device " + d.name();
        for (String key : o.keySet()) {
            if (!OPTIONS.get(d.kind()).contains(key)) {
                throw new IllegalArgumentException(what + " has no option " + key + "; its options: "
                        + new TreeSet<>(OPTIONS.get(d.kind())));
            }
        }
        boolean remote = o.get(DeviceSpec.VHOST_USER) != null;
        if (d.kind().equals("rng") && o.containsKey(DeviceSpec.HANDLER)) {
            if (!(o.get(DeviceSpec.HANDLER) instanceof RngHandler)) {
                throw new IllegalArgumentException(what + ": handler must be a guestlab.devices.RngHandler, not " + o.get(DeviceSpec.HANDLER));
            }
            if (remote) throw new IllegalArgumentException(what + ": an entropy source served by a handler has no " + DeviceSpec.VHOST_USER);
        }
        if (d.kind().equals("block") && o.containsKey(DeviceSpec.HANDLER)) {
            handlerDisk(d, what);
        } else if (d.kind().equals("block") && !d.rootDisk() && (o.get("file") == null) == !remote) {
            throw new IllegalArgumentException(remote ? what + ": give a file or a vhost-user socket, not both"
                    : what + " needs a file option (the disk image)");
        }
        if (remote && d.ephemeral()) {
            throw new IllegalArgumentException(what + ": ephemeral copies guestlab's own disk's file; a vhost-user back-end has its own");
        }
        if (o.containsKey(DeviceSpec.EPHEMERAL) && !(o.get(DeviceSpec.EPHEMERAL) instanceof Boolean)) {
            throw new IllegalArgumentException(what + ": ephemeral must be true or false, not " + o.get(DeviceSpec.EPHEMERAL));
        }
        // A read-only flag that is not a boolean must not quietly leave the disk writable.
        if (o.containsKey("read-only") && !(o.get("read-only") instanceof Boolean)) {
            throw new IllegalArgumentException(what + ": read-only must be true or false, not " + o.get("read-only"));
        }
        if (o.containsKey("queues")) {
            if (remote) throw new IllegalArgumentException(what + ": queues is for guestlab's own disks; a vhost-user back-end has its own");
            Object q = o.get("queues");
            if (!(q instanceof Integer || q instanceof Long) || ((Number) q).longValue() < 1
                    || ((Number) q).longValue() > BlockDevice.MAX_QUEUES) {
                throw new IllegalArgumentException(what + ": queues must be a whole number from 1 to " + BlockDevice.MAX_QUEUES
                        + ", not " + q);
            }
        }
        if (o.containsKey("host") && !Set.of("buffer", "stdio").contains(String.valueOf(o.get("host")))) {
            throw new IllegalArgumentException(what + ": host must be buffer or stdio, not " + o.get("host"));
        }
        if (o.containsKey("mac")) {
            String mac = String.valueOf(o.get("mac"));
            if (!MAC.matcher(mac).matches() || (Integer.parseInt(mac.substring(0, 2), 16) & 1) != 0) {
                throw new IllegalArgumentException(what + ": mac must be a unicast address like 52:54:00:12:34:56, not "
                        + mac);
            }
        }
    }

    /** A disk served by a handler: no file, no back-end, a size of whole sectors. */
    private static void handlerDisk(DeviceSpec d, String what) {
        Map<String, Object> o = d.options();
        if (!(o.get(DeviceSpec.HANDLER) instanceof BlockHandler)) {
            throw new IllegalArgumentException(what + ": handler must be a guestlab.devices.BlockHandler, not " + o.get(DeviceSpec.HANDLER));
        }
        for (String other : List.of("file", DeviceSpec.VHOST_USER, DeviceSpec.ROOTFS, DeviceSpec.EPHEMERAL)) {
            if (o.containsKey(other)) throw new IllegalArgumentException(what + ": a disk served by a handler has no " + other);
        }
        if (!(o.get(DeviceSpec.SIZE) instanceof Number n) || n.longValue() <= 0 || n.longValue() % 512 != 0) {
            throw new IllegalArgumentException(what + ": a disk served by a handler needs a size, a positive multiple of 512 bytes, not "
                    + o.get(DeviceSpec.SIZE));
        }
    }
}

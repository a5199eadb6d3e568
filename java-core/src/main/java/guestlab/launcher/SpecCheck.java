package guestlab.launcher;

import guestlab.devices.BlockDevice;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.image.DebPackage;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/** Checks a guest spec before anything is built, with messages that name the field at fault. */
final class SpecCheck {
    private SpecCheck() {}

    /** The options each device kind takes; anything else is a typo the user should hear about. */
    static final Map<String, Set<String>> OPTIONS = Map.of(
            "console", Set.of("host"),
            "block", Set.of("file", "read-only", "queues", DeviceSpec.VHOST_USER),
            "net", Set.of("switch", "mac"),
            "rng", Set.of(DeviceSpec.VHOST_USER));
    static final Set<String> KINDS = new TreeSet<>(OPTIONS.keySet());
    private static final Pattern MODULE = Pattern.compile("[A-Za-z0-9_-]+");
    private static final Pattern MAC = Pattern.compile("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}");

    static void validate(GuestSpec spec) {
        if (spec.name() == null || spec.name().isBlank() || !spec.name().matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("guest name must be letters, digits, '.', '_' or '-', not '" + spec.name() + "'");
        }
        if (spec.memoryBytes() < (1 << 20) || spec.memoryBytes() % 4096 != 0) {
            throw new IllegalArgumentException("memory must be at least 1 MiB and a multiple of 4096 bytes, not "
                    + spec.memoryBytes());
        }
        long hostRam = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getTotalMemorySize();
        if (spec.memoryBytes() > hostRam) {
            throw new IllegalArgumentException("memory " + spec.memoryBytes() + " is more than this host's RAM ("
                    + hostRam + " bytes)");
        }
        if (spec.engine().equals("qemu") && spec.memoryBytes() % (1 << 20) != 0) {
            throw new IllegalArgumentException("memory must be a whole number of MiB for QEMU, not " + spec.memoryBytes());
        }
        if (spec.kit() != null && !spec.engine().equals("qemu")) {
            throw new IllegalArgumentException("a kit lock is for qemu guests; a " + spec.engine() + " guest boots no kernel");
        }
        if (spec.extendsKit()) extras(spec);
        Set<String> names = new HashSet<>();
        for (DeviceSpec d : DeviceSpec.withDefaultNames(spec.devices())) {
            if (!KINDS.contains(d.kind())) {
                throw new IllegalArgumentException("device kind must be one of " + KINDS + ", not " + d.kind());
            }
            if (!names.add(d.name())) throw new IllegalArgumentException("two devices are named " + d.name());
            options(d);
            if (d.options().containsKey(DeviceSpec.VHOST_USER) && !spec.engine().equals("sim")) {
                throw new IllegalArgumentException(d.kind() + " device " + d.name() + ": vhost-user (a back-end the guest drives "
                        + "as a front-end) is for sim guests; a qemu guest's devices are guestlab's own");
            }
        }
    }

    /** Kernel modules and Debian packages go into the Debian kit's initramfs: a qemu guest booting that kit. */
    private static void extras(GuestSpec spec) {
        String what = spec.modules().isEmpty() ? "packages" : spec.packages().isEmpty() ? "modules" : "modules and packages";
        if (!spec.engine().equals("qemu")) {
            throw new IllegalArgumentException(what + " are for qemu guests, which boot Debian's kernel; a " + spec.engine()
                    + " guest has no kernel to load modules into and no userland to add packages to");
        }
        if (spec.kernel() != null) {
            throw new IllegalArgumentException(what + " are added to the Debian kit's initramfs; a guest with its own kernel and "
                    + "initrd (" + spec.kernel() + ", " + spec.initrd() + ") boots those as they are");
        }
        for (String m : spec.modules()) {
            if (m == null || !MODULE.matcher(m).matches()) {
                throw new IllegalArgumentException("kernel module names are letters, digits, '_' and '-', not \"" + m + "\"");
            }
        }
        for (String p : spec.packages()) {
            if (p == null || !DebPackage.NAME.matcher(p).matches()) {
                throw new IllegalArgumentException("\"" + p + "\" is not a Debian package name (lower-case letters, digits, "
                        + "'+', '-' and '.', starting with a letter or digit)");
            }
        }
    }

    private static void options(DeviceSpec d) {
        Map<String, Object> o = d.options();
        String what = d.kind() + " device " + d.name();
        for (String key : o.keySet()) {
            if (!OPTIONS.get(d.kind()).contains(key)) {
                throw new IllegalArgumentException(what + " has no option " + key + "; its options: "
                        + new TreeSet<>(OPTIONS.get(d.kind())));
            }
        }
        boolean remote = o.get(DeviceSpec.VHOST_USER) != null;
        if (d.kind().equals("block") && (o.get("file") == null) == !remote) {
            throw new IllegalArgumentException(remote ? what + ": give a file or a vhost-user socket, not both"
                    : what + " needs a file option (the disk image)");
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
}

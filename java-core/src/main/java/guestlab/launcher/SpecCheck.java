package guestlab.launcher;

import guestlab.devices.BlockDevice;
import guestlab.devices.BlockHandler;
import guestlab.devices.RngHandler;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.image.DebPackage;
import guestlab.image.RootDisk;

import java.util.HashSet;
import java.util.List;
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
            "block", Set.of("file", "read-only", "queues", DeviceSpec.VHOST_USER, DeviceSpec.ROOTFS, DeviceSpec.EPHEMERAL,
                    DeviceSpec.HANDLER, DeviceSpec.SIZE),
            "net", Set.of("switch", "mac"),
            "rng", Set.of(DeviceSpec.VHOST_USER, DeviceSpec.HANDLER));
    static final Set<String> KINDS = new TreeSet<>(OPTIONS.keySet());
    private static final Pattern MODULE = Pattern.compile("[A-Za-z0-9_-]+");
    /** The keys of a block device's rootfs map. */
    static final Set<String> ROOTFS_OPTIONS = Set.of("release", "packages", "size");
    /** A root disk's file name is its serial, which the kernel command line carries to the initramfs. */
    private static final Pattern ROOT_FILE_NAME = Pattern.compile("[A-Za-z0-9._+-]{1,20}");
    private static final Pattern RELEASE = Pattern.compile("[a-z][a-z0-9-]*");
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
        int rootDisks = 0;
        for (DeviceSpec d : DeviceSpec.withDefaultNames(spec.devices())) {
            if (!KINDS.contains(d.kind())) {
                throw new IllegalArgumentException("device kind must be one of " + KINDS + ", not " + d.kind());
            }
            if (!names.add(d.name())) throw new IllegalArgumentException("two devices are named " + d.name());
            options(d);
            if (d.options().containsKey(DeviceSpec.VHOST_USER) && !spec.engine().equals("sim") && !d.kind().equals("block")) {
                throw new IllegalArgumentException(d.kind() + " device " + d.name() + ": vhost-user (a back-end the guest drives "
                        + "as a front-end) is for sim guests; a qemu guest's " + d.kind() + " devices are guestlab's own");
            }
            if (d.rootDisk()) rootDisk(spec, d, ++rootDisks);
            if (d.options().containsKey(DeviceSpec.EPHEMERAL) && !spec.engine().equals("qemu")) {
                throw new IllegalArgumentException(d.kind() + " device " + d.name() + ": ephemeral (the guest gets a copy of its "
                        + "disk) is for qemu guests");
            }
        }
    }

    /**
     * A Debian root disk: a qemu guest booting the Debian kit, one such disk, a map of known keys,
     * and somewhere for its writes to go (a file of the user's, or an ephemeral copy).
     */
    private static void rootDisk(GuestSpec spec, DeviceSpec d, int nth) {
        String what = "block device " + d.name();
        if (!spec.engine().equals("qemu")) {
            throw new IllegalArgumentException(what + ": rootfs (a Debian root disk the guest boots) is for qemu guests; a "
                    + spec.engine() + " guest boots no kernel");
        }
        if (spec.kernel() != null) {
            throw new IllegalArgumentException(what + ": rootfs is booted by the Debian kit's initramfs; a guest with its own kernel "
                    + "and initrd boots those as they are");
        }
        if (nth > 1) throw new IllegalArgumentException(what + ": a guest boots one root disk; this spec has two with rootfs");
        if (!spec.packages().isEmpty()) {
            throw new IllegalArgumentException("packages go into the initramfs, which a guest with a root disk leaves when it boots "
                    + "the disk: name them in the disk's rootfs {:packages [...]} instead");
        }
        Map<String, Object> o = d.options();
        if (o.containsKey(DeviceSpec.VHOST_USER) || o.containsKey("read-only")) {
            throw new IllegalArgumentException(what + ": a root disk is guestlab's own disk on an image file, written by the guest; "
                    + "it takes no vhost-user or read-only");
        }
        if (o.get("file") == null && !d.ephemeral()) {
            throw new IllegalArgumentException(what + ": a root disk needs a file (the guest's own image, made from the built one "
                    + "if it does not exist, written by the guest) or ephemeral true (a copy, deleted when the guest stops)");
        }
        if (o.get("file") != null) {
            String fileName = java.nio.file.Path.of(o.get("file").toString()).getFileName().toString();
            if (!ROOT_FILE_NAME.matcher(fileName).matches()) {
                throw new IllegalArgumentException(what + ": a root disk's file name is its serial, which the guest finds it by: 1 to "
                        + "20 letters, digits, '.', '_', '+' or '-', not \"" + fileName + "\"");
            }
        }
        if (!(o.get(DeviceSpec.ROOTFS) instanceof Map<?, ?> r)) {
            throw new IllegalArgumentException(what + ": rootfs must be a map like {release bookworm, packages [fio]}, not "
                    + o.get(DeviceSpec.ROOTFS));
        }
        for (Object k : r.keySet()) {
            if (!ROOTFS_OPTIONS.contains(String.valueOf(k))) {
                throw new IllegalArgumentException(what + ": rootfs has no option " + k + "; its options: " + new TreeSet<>(ROOTFS_OPTIONS));
            }
        }
        Object release = r.get("release");
        if (release != null && !(release instanceof String s && RELEASE.matcher(s).matches())) {
            throw new IllegalArgumentException(what + ": rootfs release must be a Debian release name like bookworm, not " + release);
        }
        Object packages = r.get("packages");
        if (packages != null) {
            if (!(packages instanceof java.util.List<?> list)) {
                throw new IllegalArgumentException(what + ": rootfs packages must be a list of Debian package names, not " + packages);
            }
            for (Object p : list) {
                if (!(p instanceof String s) || !DebPackage.NAME.matcher(s).matches()) {
                    throw new IllegalArgumentException(what + ": \"" + p + "\" in rootfs packages is not a Debian package name "
                            + "(lower-case letters, digits, '+', '-' and '.', starting with a letter or digit)");
                }
            }
        }
        Object size = r.get("size");
        if (size != null && !(size instanceof Number n && n.longValue() >= RootDisk.MIN_SIZE && n.longValue() % (1 << 20) == 0)) {
            throw new IllegalArgumentException(what + ": rootfs size must be a whole number of MiB, at least "
                    + RootDisk.MIN_SIZE / (1 << 20) + " MiB, not " + size);
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
}

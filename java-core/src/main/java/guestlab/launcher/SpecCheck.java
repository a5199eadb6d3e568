package guestlab.launcher;

import guestlab.engine.DeviceOptions;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.image.DebPackage;
import guestlab.image.RootDisk;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/** Checks a guest spec before anything is built, with messages that name the field at fault. */
final class SpecCheck {
    private SpecCheck() {}

    private static final Pattern MODULE = Pattern.compile("[A-Za-z0-9_-]+");
    /** The keys of a block device's rootfs map. */
    static final Set<String> ROOTFS_OPTIONS = Set.of("release", "packages", "size");
    /** A root disk's file name is its serial, which the kernel command line carries to the initramfs. */
    private static final Pattern ROOT_FILE_NAME = Pattern.compile("[A-Za-z0-9._+-]{1,20}");
    private static final Pattern RELEASE = Pattern.compile("[a-z][a-z0-9-]*");

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
            DeviceOptions.check(d);
            if (!names.add(d.name())) throw new IllegalArgumentException("two devices are named " + d.name());
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
}

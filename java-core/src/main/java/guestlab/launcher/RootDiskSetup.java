package guestlab.launcher;

import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.image.AptFetcher;
import guestlab.image.DebianKit;
import guestlab.image.ImageCopy;
import guestlab.image.LockedPackages;
import guestlab.image.RootDisk;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Gives a spec's Debian root disk (a block device with rootfs) its image file: the image built
 * for its release and packages ({@link RootDisk}, from the cache when it was built before); then
 * the user's file, made from it when it does not exist yet and booted as it is when it does (the
 * guest's writes stay in it), or, for an ephemeral disk without a file, the built image itself,
 * which the engine copies for the guest and never writes.
 */
final class RootDiskSetup {
    private final RootDisk disks;
    private final Consumer<String> say;

    RootDiskSetup(RootDisk disks, Consumer<String> say) {
        this.disks = disks;
        this.say = say;
    }

    /** Whether the spec has a root disk. */
    static boolean hasRootDisk(GuestSpec spec) {
        return spec.devices().stream().anyMatch(DeviceSpec::rootDisk);
    }

    /**
     * The spec with its root disk's file set (building the image first if needed); the spec
     * itself if it has no root disk.
     *
     * @param kit the guest's: the root disk's packages must run on its kernel's architecture
     *     (amd64), and with a lock, the packages it asks for must be pinned and the image's
     *     packages the lock pins must have the pinned versions ({@link LockedPackages})
     */
    GuestSpec resolve(GuestSpec spec, DebianKit kit) throws IOException {
        List<DeviceSpec> devices = new ArrayList<>();
        for (DeviceSpec d : spec.devices()) {
            devices.add(d.rootDisk() ? withImage(spec.name(), d, kit.architecture(), kit.lockedPackages()) : d);
        }
        return new GuestSpec(spec.name(), spec.engine(), spec.memoryBytes(), devices, spec.kernel(), spec.initrd(), spec.kit(),
                spec.modules(), spec.packages());
    }

    private DeviceSpec withImage(String guest, DeviceSpec d, String architecture, LockedPackages pins) throws IOException {
        Map<?, ?> r = (Map<?, ?>) d.options().get(DeviceSpec.ROOTFS);
        String release = r.get("release") != null ? r.get("release").toString() : RootDisk.hostRelease();
        if (release == null) {
            throw new IllegalArgumentException("guest " + guest + ": this host does not say which Debian release it runs "
                    + "(/etc/os-release); give the root disk's rootfs a release, like bookworm");
        }
        List<String> packages = r.get("packages") == null ? List.of() : ((List<?>) r.get("packages")).stream().map(String::valueOf).toList();
        long size = r.get("size") == null ? 0 : ((Number) r.get("size")).longValue();
        RootDisk.Request request = new RootDisk.Request(release, architecture, packages, size);
        if (pins != null) pins.requirePinned(packages);
        RootDisk.Image image = disks.image(request, req -> refuseUnknown(req));
        Path packagesTxt = image.file().resolveSibling("packages.txt");
        if (pins != null) pins.checkRootDisk(image.packages(), packagesTxt);
        say.accept("root disk: Debian " + release + " minbase" + requested(request, image) + ", " + image.packages().size()
                + " packages in all (each with its version: " + packagesTxt + ")");
        if (d.options().get("file") == null) return d.with("file", image.file().toString());
        Path file = Path.of(d.options().get("file").toString());
        if (!Files.exists(file)) {
            ImageCopy.copy(image.file(), file);
            say.accept("made " + file + " from the built root disk (" + Files.size(file) / (1 << 20) + " MiB, sparse); "
                    + (d.ephemeral() ? "the guest boots a copy of it" : "the guest's writes stay in it"));
        } else {
            say.accept("booting the root disk " + file + " as it is" + (d.ephemeral() ? " (a copy of it)" : "")
                    + "; delete it to start again from the built one");
        }
        return d;
    }

    /**
     * Packages apt does not know are refused with the names near them, before mmdebstrap runs; the
     * host's apt knows its own release only, and mmdebstrap names an unknown package of another.
     */
    private static void refuseUnknown(RootDisk.Request request) throws IOException {
        if (!request.packages().isEmpty() && request.release().equals(RootDisk.hostRelease())) {
            new AptFetcher().closure(request.packages(), request.architecture());
        }
    }

    /** " + e2fsprogs 1.47.0-2" for each package asked for, with the version in the image. */
    private static String requested(RootDisk.Request request, RootDisk.Image image) {
        StringBuilder s = new StringBuilder();
        for (String p : request.packages()) {
            String version = image.packages().stream().filter(line -> line.startsWith(p + " ")).map(line -> line.split(" ")[1])
                    .findFirst().orElse("(virtual)");
            s.append(" + ").append(p).append(' ').append(version);
        }
        return s.toString();
    }
}

package guestlab.engine.qemu;

import guestlab.image.GuestKit;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The options of one QEMU guest, and the qemu-system-x86_64 argument list they make.
 *
 * <p>Guest RAM is always a shared memfd backend (vhost-user backends map it); the console is the
 * serial port on a unix socket and QMP is on another, both in {@code runDir}. With
 * {@code startPaused} QEMU starts with {@code -S}, so no console output is lost before guestlab
 * connects; {@link QemuProcess} then resumes it.
 *
 * @param qemu         the qemu-system-x86_64 binary
 * @param kernel       bzImage to boot
 * @param initrd       initramfs, or null
 * @param extraCmdline appended to {@code console=ttyS0 panic=-1}
 * @param memoryBytes  guest RAM, a whole number of MiB
 * @param vcpus        number of virtual CPUs
 * @param accelerator  "tcg" or "kvm"
 * @param runDir       where the sockets go; null until {@link QemuProcess} picks a temp dir
 * @param startPaused  add {@code -S}
 * @param devices      extra argument groups, e.g. [-chardev socket,id=vu0,path=..., -device vhost-user-rng-pci,chardev=vu0]
 */
public record QemuCommand(Path qemu, Path kernel, Path initrd, String extraCmdline, long memoryBytes, int vcpus,
                          String accelerator, Path runDir, boolean startPaused, List<List<String>> devices) {
    public static final Path DEFAULT_QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    public static final long MIB = 1024 * 1024;
    public static final String BASE_CMDLINE = "console=ttyS0 panic=-1";
    /** How many empty PCIe root ports every guest gets, each a slot a device can be hot-plugged into. */
    public static final int HOTPLUG_PORTS = 3;

    public QemuCommand {
        Objects.requireNonNull(qemu, "qemu");
        Objects.requireNonNull(kernel, "kernel");
        extraCmdline = extraCmdline == null ? "" : extraCmdline.strip();
        if (memoryBytes <= 0 || memoryBytes % MIB != 0) throw new IllegalArgumentException("memory must be a positive whole number of MiB: " + memoryBytes);
        if (vcpus < 1) throw new IllegalArgumentException("vcpus must be at least 1: " + vcpus);
        if (!Accelerator.KVM.equals(accelerator) && !Accelerator.TCG.equals(accelerator)) {
            throw new IllegalArgumentException("accelerator must be kvm or tcg: " + accelerator);
        }
        devices = devices.stream().map(List::copyOf).toList();
    }

    /** The kit's kernel and initrd, 512 MiB, one vCPU, the accelerator chosen for this host, started paused. */
    public static QemuCommand forKit(GuestKit kit) {
        return forKit(kit, Accelerator.choose());
    }

    public static QemuCommand forKit(GuestKit kit, Accelerator accel) {
        return new QemuCommand(DEFAULT_QEMU, kit.kernel(), kit.initrd(), "", 512 * MIB, 1, accel.name(), null, true, List.of());
    }

    public QemuCommand withQemu(Path q) { return new QemuCommand(q, kernel, initrd, extraCmdline, memoryBytes, vcpus, accelerator, runDir, startPaused, devices); }
    public QemuCommand withKernel(Path k) { return new QemuCommand(qemu, k, initrd, extraCmdline, memoryBytes, vcpus, accelerator, runDir, startPaused, devices); }
    public QemuCommand withExtraCmdline(String c) { return new QemuCommand(qemu, kernel, initrd, c, memoryBytes, vcpus, accelerator, runDir, startPaused, devices); }
    public QemuCommand withMemoryBytes(long m) { return new QemuCommand(qemu, kernel, initrd, extraCmdline, m, vcpus, accelerator, runDir, startPaused, devices); }
    public QemuCommand withVcpus(int n) { return new QemuCommand(qemu, kernel, initrd, extraCmdline, memoryBytes, n, accelerator, runDir, startPaused, devices); }
    public QemuCommand withAccelerator(String a) { return new QemuCommand(qemu, kernel, initrd, extraCmdline, memoryBytes, vcpus, a, runDir, startPaused, devices); }
    public QemuCommand withRunDir(Path d) { return new QemuCommand(qemu, kernel, initrd, extraCmdline, memoryBytes, vcpus, accelerator, d, startPaused, devices); }
    public QemuCommand withStartPaused(boolean p) { return new QemuCommand(qemu, kernel, initrd, extraCmdline, memoryBytes, vcpus, accelerator, runDir, p, devices); }

    /** One more device argument group, appended after the others. */
    public QemuCommand withDevice(List<String> group) {
        List<List<String>> all = new ArrayList<>(devices);
        all.add(group);
        return new QemuCommand(qemu, kernel, initrd, extraCmdline, memoryBytes, vcpus, accelerator, runDir, startPaused, all);
    }

    /** The device kinds QEMU attaches to a vhost-user back-end of ours (it has no vhost-user console). */
    public static final java.util.Set<String> VHOST_USER_KINDS = java.util.Set.of("block", "net", "rng");

    /**
     * A device served by a vhost-user back-end on {@code socket}: the chardev QEMU connects
     * through and the front-end device on it, both with the QEMU id {@code id}.
     *
     * @param id  unique among this command's devices
     * @param mac a net device's MAC (QEMU owns virtio-net's config space, so it is told); else null
     */
    public QemuCommand withVhostUserDevice(String kind, String id, Path socket, String mac) {
        List<String> chardev = List.of("-chardev", "socket,id=" + id + ",path=" + socket);
        Map<String, String> front = frontEnd(kind, id, mac);
        StringBuilder device = new StringBuilder(front.get("driver"));
        front.forEach((k, v) -> { if (!k.equals("driver")) device.append(',').append(k).append('=').append(v.replace(",", ",,")); });
        if (kind.equals("net")) {
            return withDevice(chardev).withDevice(List.of("-netdev", "vhost-user,id=" + netdevId(id) + ",chardev=" + id,
                    "-device", device.toString()));
        }
        return withDevice(chardev).withDevice(List.of("-device", device.toString()));
    }

    /**
     * The properties of the front-end device (QEMU's {@code device_add} arguments, {@code driver}
     * first) for a vhost-user back-end on chardev {@code id}; the device gets the same id.
     */
    public static Map<String, String> frontEnd(String kind, String id, String mac) {
        Map<String, String> p = new LinkedHashMap<>();
        switch (kind) {
            case "block" -> { p.put("driver", "vhost-user-blk-pci"); p.put("chardev", id); }
            case "rng" -> { p.put("driver", "vhost-user-rng-pci"); p.put("chardev", id); }
            case "net" -> {
                p.put("driver", "virtio-net-pci");
                p.put("netdev", netdevId(id));
                p.put("mac", mac);
                p.put("romfile", "");
                // INTx: QEMU 7.2 crashes in vhost_net_start setting up MSI-X vector notifiers.
                p.put("vectors", "0");
            }
            default -> throw new IllegalArgumentException("QEMU has no vhost-user " + kind + " device");
        }
        p.put("id", id);
        return p;
    }

    /** The id of the vhost-user netdev a net device with QEMU id {@code id} sits on. */
    public static String netdevId(String id) {
        return "n" + id;
    }

    /** The id of hot-plug slot {@code i}: a PCIe root port, since q35's root bus does not hot-plug. */
    public static String hotplugPort(int i) {
        return "hotplug" + i;
    }

    public Path serialSocket() { return requireRunDir().resolve("serial.sock"); }

    public Path qmpSocket() { return requireRunDir().resolve("qmp.sock"); }

    /** The full kernel command line. */
    public String cmdline() {
        return extraCmdline.isEmpty() ? BASE_CMDLINE : BASE_CMDLINE + " " + extraCmdline;
    }

    /** The argument list, binary first. */
    public List<String> args() {
        long mib = memoryBytes / MIB;
        List<String> a = new ArrayList<>();
        a.add(qemu.toString());
        a.addAll(List.of("-nodefaults", "-no-user-config", "-nographic", "-no-reboot"));
        a.addAll(List.of("-machine", "q35,memory-backend=mem", "-accel", accelerator));
        if (Accelerator.KVM.equals(accelerator)) a.addAll(List.of("-cpu", "host"));
        a.addAll(List.of("-m", mib + "M", "-smp", Integer.toString(vcpus)));
        a.addAll(List.of("-object", "memory-backend-memfd,id=mem,size=" + mib + "M,share=on"));
        a.addAll(List.of("-kernel", kernel.toString()));
        if (initrd != null) a.addAll(List.of("-initrd", initrd.toString()));
        a.addAll(List.of("-append", cmdline()));
        a.addAll(List.of("-chardev", "socket,id=ser0,path=" + optValue(serialSocket()) + ",server=on,wait=off",
                "-serial", "chardev:ser0"));
        a.addAll(List.of("-qmp", "unix:" + optValue(qmpSocket()) + ",server=on,wait=off"));
        if (startPaused) a.add("-S");
        for (List<String> group : devices) a.addAll(group);
        for (int i = 0; i < HOTPLUG_PORTS; i++) {
            a.addAll(List.of("-device", "pcie-root-port,id=" + hotplugPort(i) + ",chassis=" + (i + 1)));
        }
        return List.copyOf(a);
    }

    /** A value inside a QEMU key=value option string: commas are doubled. */
    static String optValue(Path p) {
        return p.toString().replace(",", ",,");
    }

    private Path requireRunDir() {
        if (runDir == null) throw new IllegalStateException("no runDir yet: QemuProcess.start picks one, or call withRunDir");
        return runDir;
    }
}

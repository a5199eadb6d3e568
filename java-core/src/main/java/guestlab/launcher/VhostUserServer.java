package guestlab.launcher;

import guestlab.devices.BlockDevice;
import guestlab.devices.EthernetSwitch;
import guestlab.engine.DeviceFactory;
import guestlab.engine.DeviceSpec;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.vhostuser.VhostUserBackend;
import guestlab.virtio.VirtioDevice;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Serves one guestlab device over vhost-user until killed, for any front-end (QEMU,
 * cloud-hypervisor, crosvm, Firecracker):
 * <pre>
 *   ./guestlab vhost-user block SOCKET IMAGE [--read-only] [--queues N]
 *   ./guestlab vhost-user rng SOCKET
 * </pre>
 */
public final class VhostUserServer {
    private VhostUserServer() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) usage();
        Path socket = Path.of(args[1]);
        DeviceSpec spec = switch (args[0]) {
            case "block" -> {
                if (args.length < 3) usage();
                Map<String, Object> options = new HashMap<>(Map.of("file", args[2]));
                for (int i = 3; i < args.length; i++) {
                    switch (args[i]) {
                        case "--read-only" -> options.put("read-only", true);
                        case "--queues" -> options.put("queues", queues(i + 1 < args.length ? args[++i] : ""));
                        default -> usage();
                    }
                }
                yield new DeviceSpec("block", "block", options);
            }
            case "rng" -> new DeviceSpec("rng", "rng", Map.of());
            default -> {
                usage();
                yield null;
            }
        };
        EventBus events = new EventBus(16);
        VirtioDevice device = new DeviceFactory("vhost-user", events, EthernetSwitch::new).build(spec);
        // Only these kinds: the device path then makes no event objects for its kicks, requests and interrupts.
        events.subscribe(EnumSet.of(EventKind.LIFECYCLE, EventKind.DEVICE_ERROR, EventKind.HOST_WARNING),
                e -> System.err.println("guestlab: " + e));
        VhostUserBackend backend;
        try {
            backend = new VhostUserBackend("vhost-user", args[0], device, socket, events);
        } catch (IllegalStateException | IllegalArgumentException e) { // e.g. the path is another process's live socket
            device.close();
            System.err.println("guestlab: " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            backend.close();
            device.close();
            done.countDown();
        }));
        System.err.println("guestlab: serving " + args[0] + " on " + socket + " (vhost-user); Ctrl-C stops");
        done.await();
    }

    private static int queues(String n) {
        try {
            int q = Integer.parseInt(n);
            if (q >= 1 && q <= BlockDevice.MAX_QUEUES) return q;
        } catch (NumberFormatException e) {
            // said below
        }
        System.err.println("guestlab: --queues takes a number from 1 to " + BlockDevice.MAX_QUEUES + ", not '" + n + "'");
        System.exit(2);
        return 0;
    }

    private static void usage() {
        System.err.println("usage: ./guestlab vhost-user block SOCKET IMAGE [--read-only] [--queues N] | rng SOCKET");
        System.exit(2);
    }
}

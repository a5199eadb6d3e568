package guestlab.launcher;

import guestlab.devices.EthernetSwitch;
import guestlab.engine.DeviceFactory;
import guestlab.engine.DeviceSpec;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.vhostuser.VhostUserBackend;
import guestlab.virtio.VirtioDevice;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Serves one guestlab device over vhost-user until killed, for any front-end (QEMU,
 * cloud-hypervisor, crosvm, Firecracker):
 * <pre>
 *   ./guestlab vhost-user block SOCKET IMAGE [--read-only]
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
                yield new DeviceSpec("block", "block", Map.of("file", args[2],
                        "read-only", args.length > 3 && args[3].equals("--read-only")));
            }
            case "rng" -> new DeviceSpec("rng", "rng", Map.of());
            default -> {
                usage();
                yield null;
            }
        };
        VirtioDevice device = new DeviceFactory(EthernetSwitch::new).build(spec);
        EventBus events = new EventBus(16);
        events.subscribe(e -> {
            if (e.kind() == EventKind.LIFECYCLE || e.kind() == EventKind.DEVICE_ERROR || e.kind() == EventKind.HOST_WARNING) {
                System.err.println("guestlab: " + e);
            }
        });
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

    private static void usage() {
        System.err.println("usage: ./guestlab vhost-user block SOCKET IMAGE [--read-only] | rng SOCKET");
        System.exit(2);
    }
}

package guestlab.launcher;

import guestlab.devices.EthernetSwitch;
import guestlab.engine.DeviceSpec;
import guestlab.engine.Guest;
import guestlab.engine.GuestSpec;
import guestlab.engine.qemu.Accelerator;
import guestlab.engine.qemu.QemuGuest;
import guestlab.image.DebianKit;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code ./guestlab boot [--disk IMAGE]}: Debian's kernel in QEMU with guestlab's rng (and disk)
 * over vhost-user, its serial console on this terminal. Ctrl-A x quits, as in QEMU.
 */
public final class BootMain {
    private static final int CTRL_A = 1;

    private BootMain() {}

    public static void main(String[] args) throws Exception {
        List<DeviceSpec> devices = new ArrayList<>(List.of(new DeviceSpec("rng", null, Map.of())));
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--disk") && i + 1 < args.length) {
                devices.add(new DeviceSpec("block", null, Map.of("file", args[++i])));
            } else {
                System.err.println("usage: ./guestlab boot [--disk IMAGE]");
                System.exit(2);
            }
        }
        DebianKit debian = new DebianKit(DebianKit.defaultCache(), s -> System.err.print("guestlab: " + s + "\r\n"));
        var kit = debian.get();
        System.err.print("guestlab: " + debian.summary() + "\r\n");
        System.err.print("guestlab: booting " + kit.kernelVersion() + " in QEMU; Ctrl-A x quits\r\n");
        QemuGuest g = QemuGuest.start(new GuestSpec("boot", "qemu", 512L << 20, devices), kit, Accelerator.choose(), Launcher.BOOT_TIMEOUT,
                EthernetSwitch::new, text -> {
                    System.out.print(text);
                    System.out.flush();
                });
        try {
            forwardKeys(System.in, g);
        } finally {
            g.stop();
            System.err.print("\r\nguestlab: guest stopped\r\n");
        }
        System.exit(0);
    }

    /** Terminal bytes to the guest's console until Ctrl-A x (Ctrl-A Ctrl-A sends one Ctrl-A). */
    private static void forwardKeys(InputStream in, QemuGuest g) throws IOException {
        boolean escape = false;
        int b;
        while (g.state() == Guest.State.RUNNING && (b = in.read()) >= 0) {
            if (escape) {
                escape = false;
                if (b == 'x') return;
                if (b != CTRL_A) g.console().send(new byte[] {CTRL_A});
            } else if (b == CTRL_A) {
                escape = true;
                continue;
            }
            g.console().send(new byte[] {(byte) b});
        }
    }
}

package guestlab.engine;

import guestlab.devices.BlockDevice;
import guestlab.devices.BlockHandler;
import guestlab.devices.BufferConsole;
import guestlab.devices.ConsoleDevice;
import guestlab.devices.ConsoleHost;
import guestlab.devices.EthernetSwitch;
import guestlab.devices.NetDevice;
import guestlab.devices.RngDevice;
import guestlab.devices.RngHandler;
import guestlab.devices.StreamConsole;
import guestlab.events.EventBus;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The one place a {@link DeviceSpec} becomes a device, for every engine and for the stand-alone
 * vhost-user server. One factory builds one guest's devices: it remembers the consoles it gave a
 * buffer host, which the sim engine's users read and write.
 */
public final class DeviceFactory {
    private final String guest;
    private final EventBus events;
    private final Function<String, EthernetSwitch> switches;
    private final Map<String, BufferConsole> bufferConsoles = new LinkedHashMap<>();

    /**
     * @param guest    the guest the devices belong to (a net device's switch port is named after it)
     * @param events   its event stream, which hears of the faults a switch sets on its net devices
     * @param switches the switch a net device joins, by name
     */
    public DeviceFactory(String guest, EventBus events, Function<String, EthernetSwitch> switches) {
        this.guest = guest;
        this.events = events;
        this.switches = switches;
    }

    /**
     * Builds the device {@code d} describes (its options checked already). The caller owns it.
     *
     * @throws IOException a block device's image cannot be opened
     */
    public VirtioDevice build(DeviceSpec d) throws IOException {
        Map<String, Object> o = d.options();
        return switch (d.kind()) {
            case "block" -> o.get(DeviceSpec.HANDLER) instanceof BlockHandler h
                    ? BlockDevice.over(h, ((Number) o.get(DeviceSpec.SIZE)).longValue(), Boolean.TRUE.equals(o.get("read-only")),
                            ((Number) o.getOrDefault("queues", 1)).intValue())
                    : BlockDevice.open(Path.of(o.get("file").toString()), Boolean.TRUE.equals(o.get("read-only")),
                    ((Number) o.getOrDefault("queues", 1)).intValue());
            case "net" -> new NetDevice(o.containsKey("mac") ? NetDevice.parseMac(o.get("mac").toString()) : NetDevice.randomMac(),
                    switches.apply(o.getOrDefault("switch", "default").toString()), guest, d.name(), events);
            case "rng" -> {
                RngDevice rng = new RngDevice();
                if (o.get(DeviceSpec.HANDLER) instanceof RngHandler h) rng.setHandler(h); // an entropy source defined elsewhere
                yield rng;
            }
            case "console" -> new ConsoleDevice(consoleHost(d.name(), o.getOrDefault("host", "buffer").toString()));
            default -> throw new IllegalArgumentException("unknown device kind " + d.kind());
        };
    }

    private ConsoleHost consoleHost(String device, String host) {
        if (host.equals("stdio")) return StreamConsole.stdio();
        BufferConsole b = new BufferConsole();
        bufferConsoles.put(device, b);
        return b;
    }

    /** The host ends of the consoles built here with a buffer host, by device name. */
    public Map<String, BufferConsole> bufferConsoles() {
        return Map.copyOf(bufferConsoles);
    }
}

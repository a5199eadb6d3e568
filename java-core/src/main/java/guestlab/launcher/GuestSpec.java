package guestlab.launcher;

import java.util.List;

/**
 * What to run: a name, an engine ("sim" for now), guest RAM in bytes, and devices in bus order.
 */
public record GuestSpec(String name, String engine, long memoryBytes, List<DeviceSpec> devices) {
    public GuestSpec {
        devices = List.copyOf(devices);
    }
}

package guestlab.engine.sim;

import guestlab.devices.EthernetSwitch;
import guestlab.engine.DeviceFactory;
import guestlab.engine.DeviceSpec;
import guestlab.engine.GuestSpec;
import guestlab.engine.Rollback;
import guestlab.events.Event;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.lguest.DevicePage;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LhReq;
import guestlab.memory.MemfdMemory;
import guestlab.transport.lguest.LguestBus;
import guestlab.virtio.VirtioDevice;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Starts simulated guests as lguest's launcher started real ones: map guest RAM with the device
 * page just above it, build the devices onto the lguest bus, tell the hypervisor
 * (LHREQ_INITIALIZE), and let the simulated kernel boot.
 */
public final class SimEngine {
    private SimEngine() {}

    /**
     * Starts the guest {@code spec} describes (already checked); releases everything on failure.
     *
     * @param switches the named switches net devices join
     * @param timeout  how long a simulated driver waits for its device
     */
    public static SimGuest start(GuestSpec spec, Function<String, EthernetSwitch> switches, Duration timeout)
            throws IOException {
        try (Rollback rollback = new Rollback()) {
            EventBus events = new EventBus(4096);
            // Guest RAM plus one page above it for the lguest device page.
            MemfdMemory mem = rollback.add(MemfdMemory.allocate("guestlab-" + spec.name(),
                    spec.memoryBytes() + LguestRing.PAGE_SIZE, "guest " + spec.name() + " is stopped"));
            DeviceFactory factory = new DeviceFactory(spec.name(), events, switches);
            Map<String, VirtioDevice> devices = new LinkedHashMap<>();
            List<DeviceSpec> vhostUser = new ArrayList<>();
            for (DeviceSpec d : DeviceSpec.withDefaultNames(spec.devices())) {
                // A device some vhost-user back-end serves: the guest is its front-end, not on the bus.
                if (d.options().containsKey(DeviceSpec.VHOST_USER)) vhostUser.add(d);
                else devices.put(d.name(), rollback.add(factory.build(d)));
            }
            long pfnLimit = spec.memoryBytes() / LguestRing.PAGE_SIZE;
            SimHypervisor hv = new SimHypervisor(spec.name(), mem, events);
            hv.write(new LhReq.Initialize(0, pfnLimit, 0).encode()); // as written to /dev/lguest
            DevicePage page = new DevicePage(mem, spec.memoryBytes(), LguestRing.PAGE_SIZE);
            LguestBus bus = new LguestBus(spec.name(), mem, spec.memoryBytes(), page, hv, events, devices);
            devices.values().forEach(rollback::forget);
            rollback.add(bus); // the bus owns the devices now and stops their threads before the memory goes
            hv.onExit(bus::handleNotify);
            events.publish(Event.note(spec.name(), "", -1, EventKind.LIFECYCLE,
                    "starting: engine sim, " + spec.memoryBytes() / (1 << 20) + " MiB, devices " + devices.keySet()
                            + (vhostUser.isEmpty() ? "" : ", over vhost-user " + vhostUser.stream().map(d -> d.name() + " on "
                            + d.options().get(DeviceSpec.VHOST_USER)).toList())));
            SimGuest g = new SimGuest(spec.name(), mem, hv, bus, events, factory, vhostUser, timeout);
            rollback.keep();
            rollback.add(g::stop); // the guest owns the bus and the memory
            g.boot();
            rollback.keep();
            return g;
        }
    }
}

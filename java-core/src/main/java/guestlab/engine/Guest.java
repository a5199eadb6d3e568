package guestlab.engine;

import guestlab.devices.NetDevice;
import guestlab.events.EventBus;
import guestlab.memory.GuestMemory;
import guestlab.virtio.QueueState;
import guestlab.virtio.VirtioDevice;

import java.util.List;

/** A running guest, whatever engine runs its CPU. */
public interface Guest extends AutoCloseable {
    enum State { RUNNING, PAUSED, STOPPED, FAILED }

    String name();

    String engine();

    State state();

    /** Device names in bus order ("console0", "block0", ...). */
    List<String> devices();

    /** The device's status byte as the driver last set it, with NEEDS_RESET if the device broke. */
    int deviceStatus(String device);

    /** Every queue of every started device, in bus order. */
    List<QueueState> queues();

    List<QueueState> queues(String device);

    /** The virtio device ID ({@link guestlab.virtio.DeviceType}) of the device {@code name}, wherever it is served. */
    int deviceType(String name);

    /** The device object behind {@code name}, shared by every transport (inject input, pull a link). */
    VirtioDevice device(String name);

    /** How many queues the device {@code name} has, wherever it is served. */
    default int queueCount(String name) {
        return device(name).queueCount();
    }

    EventBus events();

    GuestMemory memory();

    /** Freezes the guest's CPU; devices keep their state. */
    default void pause() {
        throw new UnsupportedOperationException(engine() + " guests cannot be paused");
    }

    /** Lets a paused guest run again. */
    default void resume() {
        throw new UnsupportedOperationException(engine() + " guests cannot be paused");
    }

    /**
     * Adds a block, net or rng device ({@link HotPlug}) to the running guest and returns its name
     * (the spec's, or the next free one of its kind: block1, net1, ...) once the guest's driver
     * has started it.
     */
    default String plug(DeviceSpec device) {
        throw new UnsupportedOperationException(engine() + " guests cannot hot-plug devices");
    }

    /** Removes a device {@link #plug} added, once the guest has let it go; its image is flushed and closed. */
    default void unplug(String device) {
        throw new UnsupportedOperationException(engine() + " guests cannot hot-unplug devices");
    }

    /**
     * Sets a net device's link: down, the guest sees no carrier and no frame passes either way; up,
     * both return.
     */
    default void setLink(String device, boolean up) {
        if (!(device(device) instanceof NetDevice net)) throw new IllegalArgumentException(device + " is not a net device");
        net.setLinkUp(up);
    }

    /** Stops the guest and releases everything it holds; idempotent. */
    void stop();

    @Override
    default void close() {
        stop();
    }
}

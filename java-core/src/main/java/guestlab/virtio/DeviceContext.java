package guestlab.virtio;

import guestlab.memory.GuestMemory;

/**
 * What a transport gives a started device: the guest's memory, the negotiated features, its
 * queues, and the ways to reach the driver.
 */
public interface DeviceContext {
    GuestMemory memory();

    /** The features both sides agreed on. */
    long features();

    /** The queue at {@code index}, or null if the driver did not set it up. */
    DeviceQueue queue(int index);

    /** Chains were pushed on queue {@code index}: interrupt the driver if the ring asks for it. */
    void used(int index);

    /** The host has work for queue {@code index} (data arrived): run {@link VirtioDevice#handle} soon. */
    void wake(int index);

    /** Config space changed (link status, capacity): tell the driver. */
    void configChanged();

    /** Something on the host went wrong that the user should see, without breaking the device. */
    void warn(int index, String message);
}

package guestlab.virtio;

/** Virtio device IDs (virtio 1.x section 5); lguest's device page uses the same numbers. */
public final class DeviceType {
    private DeviceType() {}

    public static final int NET = 1;
    public static final int BLOCK = 2;
    public static final int CONSOLE = 3;
    public static final int RNG = 4;
}

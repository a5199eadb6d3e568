package guestlab.virtio;

/** Device status bits (virtio 1.x section 2.1). */
public final class DeviceStatus {
    private DeviceStatus() {}

    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    /** Set by the device when it has hit an error the driver must reset to clear. */
    public static final int NEEDS_RESET = 0x40;
    public static final int FAILED = 0x80;

    public static String describe(int status) {
        if (status == 0) return "reset";
        StringBuilder b = new StringBuilder();
        String[] names = {"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK", "0x10", "0x20", "NEEDS_RESET", "FAILED"};
        for (int i = 0; i < 8; i++) {
            if ((status & (1 << i)) != 0) b.append(b.isEmpty() ? "" : "|").append(names[i]);
        }
        return b.toString();
    }
}

package guestlab.devices;

import guestlab.transport.ServedDevice;

/**
 * A device-layer class that reaches up into the transport layer, as no main class may: the
 * architecture test checks its rules catch it. It is never run.
 */
public final class UpwardImportFixture {
    private UpwardImportFixture() {}

    static String nameOf(ServedDevice served) {
        return served.name();
    }
}

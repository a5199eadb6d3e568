package guestlab.launcher;

import java.time.Duration;

/** What a guest's start says while it runs: a QEMU boot takes seconds, a sim start says nothing. */
public interface StartProgress {
    StartProgress SILENT = new StartProgress() {
        @Override
        public void booting(String guest, String kit, String accelerator) {}

        @Override
        public void up(String guest, Duration took) {}
    };

    /** A QEMU guest is about to boot {@code kit} ("Debian 6.1.0-50-amd64") with {@code accelerator} ("TCG"). */
    void booting(String guest, String kit, String accelerator);

    /** The guest reached init. */
    void up(String guest, Duration took);
}

package guestlab.image;

import java.nio.file.Path;

/** apt that must not be asked anything: a test of the offline path fails if it is. */
public final class OfflineApt implements Apt {
    public static final Apt INSTANCE = new OfflineApt();

    private OfflineApt() {}

    @Override
    public String dependency(String metapackage, String prefix) {
        throw new AssertionError("apt-cache depends " + metapackage + " asked, offline");
    }

    @Override
    public void download(String what, Path into) {
        throw new AssertionError("apt-get download " + what + " asked, offline");
    }
}

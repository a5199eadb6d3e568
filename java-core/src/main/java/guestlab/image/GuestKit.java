package guestlab.image;

import java.nio.file.Path;

/**
 * What boots a Linux guest: a kernel image, an initramfs, the kernel's version, and the line
 * the initramfs's init prints once it is up (the init marker).
 */
public record GuestKit(Path kernel, Path initrd, String kernelVersion) {
    /** Printed by the kit's /init on the console once the virtio modules are loaded. */
    public static final String INIT_MARKER = "GUESTLAB-INIT-OK";
}

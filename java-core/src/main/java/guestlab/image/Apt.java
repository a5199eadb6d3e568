package guestlab.image;

import java.io.IOException;
import java.nio.file.Path;

/**
 * What the guest kit asks of Debian's package tools: which kernel package a metapackage names
 * today, and a download. {@link AptFetcher} is the system's apt; tests give their own.
 */
public interface Apt {
    /** The package {@code metapackage} depends on whose name starts with {@code prefix} (apt-cache depends). */
    String dependency(String metapackage, String prefix) throws IOException;

    /**
     * Downloads {@code what} ("busybox-static", or exactly "busybox-static:amd64=1:1.35.0-4+b3")
     * into {@code dir} as apt names it: name_version_arch.deb, with ':' in the version as "%3a".
     */
    void download(String what, Path dir) throws IOException;

    /**
     * The line of an apt failure worth quoting: its last "E: " line, else its first line.
     */
    static String reason(IOException e) {
        String msg = String.valueOf(e.getMessage());
        String last = null;
        for (String line : msg.split("\n")) if (line.startsWith("E: ")) last = line.strip();
        return last != null ? last : msg.split("\n", 2)[0].strip();
    }
}

package guestlab.image;

import java.util.regex.Pattern;

/** One Debian package as apt resolved it: name, version and architecture ("all" or the kit's). */
public record DebPackage(String name, String version, String architecture) {
    /** What Debian policy allows in a package name (so a name can never be taken for an apt option). */
    public static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9+.-]+");

    /** The file apt-get download writes: name_version_arch.deb, ':' in the version as "%3a". */
    public String debFileName() {
        return name + "_" + version.replace(":", "%3a") + "_" + architecture + ".deb";
    }

    /** This exact package, as apt-get download takes it: name:arch=version. */
    public String aptSpec() {
        return name + ":" + architecture + "=" + version;
    }

    /** "e2fsprogs 1.47.0-2+b2" */
    @Override
    public String toString() {
        return name + " " + version;
    }
}

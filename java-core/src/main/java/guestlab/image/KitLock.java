package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A kit lock: the exact Debian packages a guest kit is built from (name, version, architecture,
 * sha256 of the .deb) and the sha256 of what guestlab builds from them (the kernel image and the
 * initramfs). Kept as EDN, in exactly this shape:
 *
 * <pre>
 * {:kit-format 1
 *  :packages [{:name "linux-image-6.1.0-50-amd64" :version "6.1.176-1" :architecture "amd64" :sha256 "..."}
 *             {:name "busybox-static" :version "1:1.35.0-4+deb12u1+b1" :architecture "amd64" :sha256 "..."}]
 *  :kernel-version "6.1.0-50-amd64"
 *  :kernel-sha256 "..."
 *  :initramfs-sha256 "..."
 *  :guest-packages [{:name "e2fsprogs" :version "1.47.0-2+b2" :architecture "amd64" :sha256 "..."} ...]}
 * </pre>
 *
 * <p>{@code :guest-packages} is optional (locks written before it, or by {@code ./guestlab kit lock}
 * without {@code --packages}, have none): the Debian packages a guest's {@code :packages} may ask
 * for, each with everything it depends on, as apt resolved them when the lock was written
 * ({@link LockedPackages}).
 *
 * Read by a small strict reader for this shape (maps, vectors, strings, keywords, integers,
 * comments): the launcher, {@code ./guestlab kit} and the Java tests read locks without a Clojure
 * runtime, and a reader that knows the shape names the key at fault.
 */
public record KitLock(List<Package> packages, String kernelVersion, String kernelSha256, String initramfsSha256,
                      List<Package> guestPackages) {
    /** The format this guestlab writes and reads. */
    public static final int FORMAT = 1;
    /** Where {@code ./guestlab kit lock} writes when given no file. */
    public static final String DEFAULT_FILE = "guestlab-kit.edn";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9+.-]+");
    private static final Pattern VERSION = Pattern.compile("([0-9]+:)?[0-9][A-Za-z0-9.+~-]*");
    private static final Pattern ARCH = Pattern.compile("[a-z0-9][a-z0-9-]*");
    private static final Pattern KERNEL_VERSION = Pattern.compile("[A-Za-z0-9._+-]+");

    /** One Debian package: what apt calls it, and the sha256 of its .deb. */
    public record Package(String name, String version, String architecture, String sha256) {
        public Package {
            check(name != null && NAME.matcher(name).matches(), "package name " + show(name) + " is not a Debian package name");
            check(version != null && VERSION.matcher(version).matches(),
                    name + ": version " + show(version) + " is not a Debian version");
            check(architecture != null && ARCH.matcher(architecture).matches(),
                    name + ": architecture " + show(architecture) + " is not a Debian architecture");
            check(sha256 != null && SHA256.matcher(sha256).matches(),
                    name + ": sha256 " + show(sha256) + " is not 64 lower-case hex digits");
        }

        /** The package this entry pins, without its checksum. */
        public DebPackage deb() {
            return new DebPackage(name, version, architecture);
        }

        /** The file apt-get download writes (see {@link DebPackage#debFileName()}). */
        public String debFileName() {
            return deb().debFileName();
        }

        /** This exact package, as apt-get download takes it (see {@link DebPackage#aptSpec()}). */
        public String aptSpec() {
            return deb().aptSpec();
        }

        /** "busybox-static 1:1.35.0-4+deb12u1+b1" */
        @Override
        public String toString() {
            return deb().toString();
        }
    }

    public KitLock {
        check(packages != null, "no :packages");
        packages = List.copyOf(packages);
        check(packages.stream().filter(p -> p.name().startsWith("linux-image-")).count() == 1
                        && packages.stream().filter(p -> p.name().equals("busybox-static")).count() == 1
                        && packages.size() == 2,
                ":packages must be one linux-image-* package and busybox-static, not "
                        + packages.stream().map(Package::name).toList());
        check(kernelVersion != null && KERNEL_VERSION.matcher(kernelVersion).matches(),
                ":kernel-version " + show(kernelVersion) + " is not a kernel version like 6.1.0-50-amd64");
        check(kernelSha256 != null && SHA256.matcher(kernelSha256).matches(),
                ":kernel-sha256 " + show(kernelSha256) + " is not 64 lower-case hex digits");
        check(initramfsSha256 != null && SHA256.matcher(initramfsSha256).matches(),
                ":initramfs-sha256 " + show(initramfsSha256) + " is not 64 lower-case hex digits");
        guestPackages = List.copyOf(guestPackages);
        check(guestPackages.stream().map(Package::name).distinct().count() == guestPackages.size(),
                ":guest-packages names a package more than once");
    }

    /** A lock of the kit alone, pinning no guest packages. */
    public KitLock(List<Package> packages, String kernelVersion, String kernelSha256, String initramfsSha256) {
        this(packages, kernelVersion, kernelSha256, initramfsSha256, List.of());
    }

    /** This lock, pinning {@code guest} as its guest packages (in place of any it had). */
    public KitLock withGuestPackages(List<Package> guest) {
        return new KitLock(packages, kernelVersion, kernelSha256, initramfsSha256, guest);
    }

    public Package kernelPackage() {
        return packages.stream().filter(p -> p.name().startsWith("linux-image-")).findFirst().orElseThrow();
    }

    public Package busyboxPackage() {
        return packages.stream().filter(p -> p.name().equals("busybox-static")).findFirst().orElseThrow();
    }

    // --- writing ---------------------------------------------------------------------------

    /** The lock as EDN text, the shape {@link #parse} reads. */
    public String toEdn() {
        StringBuilder b = new StringBuilder();
        b.append(";; guestlab kit lock: the exact Debian packages of the guest kit, and what guestlab builds from them.\n");
        b.append(";; Written by ./guestlab kit lock; a guest spec names it as :kit \"guestlab-kit.edn\".\n");
        b.append("{:kit-format ").append(FORMAT).append('\n');
        b.append(" :packages ");
        vector(b, packages, " ".repeat(" :packages [".length()));
        b.append('\n');
        b.append(" :kernel-version ").append(quote(kernelVersion)).append('\n');
        b.append(" :kernel-sha256 ").append(quote(kernelSha256)).append('\n');
        b.append(" :initramfs-sha256 ").append(quote(initramfsSha256));
        if (!guestPackages.isEmpty()) {
            b.append("\n :guest-packages ");
            vector(b, guestPackages, " ".repeat(" :guest-packages [".length()));
        }
        b.append("}\n");
        return b.toString();
    }

    /** A vector of package maps, one to a line pair, each line after the first indented by {@code indent}. */
    private static void vector(StringBuilder b, List<Package> pkgs, String indent) {
        b.append('[');
        for (int i = 0; i < pkgs.size(); i++) {
            Package p = pkgs.get(i);
            if (i > 0) b.append('\n').append(indent);
            b.append("{:name ").append(quote(p.name())).append(" :version ").append(quote(p.version()))
                    .append(" :architecture ").append(quote(p.architecture())).append('\n').append(indent).append(" :sha256 ")
                    .append(quote(p.sha256())).append('}');
        }
        b.append(']');
    }

    /** Writes the lock to {@code file} atomically (a temp file beside it, renamed). */
    public void write(Path file) throws IOException {
        Path abs = file.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".tmp");
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            Files.writeString(tmp, toEdn());
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }

    // --- reading ---------------------------------------------------------------------------

    /**
     * The lock in {@code file}. Throws IOException when it cannot be read, and
     * IllegalArgumentException naming the file and the key at fault when it is not a lock.
     */
    public static KitLock read(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException("kit lock " + file + ": no such file (./guestlab kit lock writes one)");
        } catch (IOException e) {
            throw new IOException("kit lock " + file + ": cannot read it: " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** The lock in {@code text}; {@code where} names it in messages ("kit lock WHERE: ..."). */
    public static KitLock parse(String text, String where) {
        try {
            Reader r = new Reader(text);
            Object top = r.read();
            r.end();
            Map<String, Object> m = map(top, "the lock");
            keys(m, Set.of("kit-format", "packages", "kernel-version", "kernel-sha256", "initramfs-sha256"), Set.of("guest-packages"),
                    "the lock");
            Object format = m.get("kit-format");
            check(format instanceof Long, ":kit-format must be an integer, not " + show(format));
            check((Long) format <= FORMAT, "it is kit format " + format + ", written by a newer guestlab; this one reads format "
                    + FORMAT);
            check((Long) format == FORMAT, "kit format " + format + " is not one guestlab reads (it reads " + FORMAT + ")");
            List<Package> guest = m.containsKey("guest-packages") ? packages(m, "guest-packages") : List.of();
            return new KitLock(packages(m, "packages"), string(m, "kernel-version"), string(m, "kernel-sha256"),
                    string(m, "initramfs-sha256"), guest);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("kit lock " + where + ": " + e.getMessage(), e);
        }
    }

    private static List<Package> packages(Map<String, Object> m, String key) {
        check(m.get(key) instanceof List<?>, ":" + key + " must be a vector of package maps");
        List<Package> pkgs = new ArrayList<>();
        for (Object o : (List<?>) m.get(key)) {
            Map<String, Object> p = map(o, "a package");
            keys(p, Set.of("name", "version", "architecture", "sha256"), Set.of(), "package " + show(p.get("name")));
            pkgs.add(new Package(string(p, "name"), string(p, "version"), string(p, "architecture"), string(p, "sha256")));
        }
        return pkgs;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o, String what) {
        check(o instanceof Map<?, ?>, what + " must be a map, not " + show(o));
        return (Map<String, Object>) o;
    }

    /** {@code m} has every key of {@code want}, and no key outside {@code want} and {@code optional}. */
    private static void keys(Map<String, Object> m, Set<String> want, Set<String> optional, String what) {
        for (String k : m.keySet()) {
            check(want.contains(k) || optional.contains(k), what + " has an unknown key :" + k + " (its keys: "
                    + java.util.stream.Stream.concat(want.stream(), optional.stream()).sorted().map(s -> ":" + s).toList() + ")");
        }
        for (String k : want.stream().sorted().toList()) check(m.containsKey(k), what + " has no :" + k);
    }

    private static String string(Map<String, Object> m, String key) {
        Object v = m.get(key);
        check(v instanceof String, ":" + key + " must be a string, not " + show(v));
        return (String) v;
    }

    private static void check(boolean ok, String problem) {
        if (!ok) throw new IllegalArgumentException(problem);
    }

    private static String show(Object o) {
        return o instanceof String s ? quote(s) : String.valueOf(o);
    }

    /**
     * EDN, as much as a lock needs: maps (keyword keys, each once), vectors, strings, keywords,
     * integers; whitespace, commas and ; comments between. Anything else is an error with its line.
     */
    private static final class Reader {
        private final String s;
        private int i;

        Reader(String s) {
            this.s = s;
        }

        Object read() {
            skip();
            if (i >= s.length()) throw error("it ends where a value should be");
            char c = s.charAt(i);
            if (c == '{') {
                int line = line();
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                while (true) {
                    skip();
                    if (i < s.length() && s.charAt(i) == '}') {
                        i++;
                        return m;
                    }
                    if (i >= s.length()) throw error("the map opened on line " + line + " is not closed");
                    if (s.charAt(i) != ':') throw error("a map key must be a keyword");
                    String k = keyword();
                    if (m.containsKey(k)) throw error(":" + k + " appears twice");
                    skip();
                    if (i < s.length() && s.charAt(i) == '}') throw error(":" + k + " has no value");
                    m.put(k, read());
                }
            }
            if (c == '[') {
                int line = line();
                i++;
                List<Object> v = new ArrayList<>();
                while (true) {
                    skip();
                    if (i < s.length() && s.charAt(i) == ']') {
                        i++;
                        return v;
                    }
                    if (i >= s.length()) throw error("the vector opened on line " + line + " is not closed");
                    v.add(read());
                }
            }
            if (c == '"') return string();
            if (c == ':') return keyword();
            if (c == '-' || Character.isDigit(c)) {
                int start = i++;
                while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
                try {
                    return Long.parseLong(s.substring(start, i));
                } catch (NumberFormatException e) {
                    throw error("not a number: " + s.substring(start, i));
                }
            }
            throw error("unexpected '" + c + "' (a lock holds maps, vectors, strings, keywords and integers)");
        }

        void end() {
            skip();
            if (i < s.length()) throw error("more after the lock's map");
        }

        private String string() {
            int line = line();
            StringBuilder b = new StringBuilder();
            i++;
            while (i < s.length() && s.charAt(i) != '"') {
                char c = s.charAt(i++);
                if (c == '\\' && i < s.length()) {
                    char e = s.charAt(i++);
                    b.append(switch (e) {
                        case '"', '\\' -> e;
                        case 'n' -> '\n';
                        case 't' -> '\t';
                        default -> throw error("unknown escape \\" + e + " in a string");
                    });
                } else {
                    b.append(c);
                }
            }
            if (i >= s.length()) throw error("the string opened on line " + line + " is not closed");
            i++;
            return b.toString();
        }

        private String keyword() {
            int start = ++i;
            while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || "-_./*+!?<>=".indexOf(s.charAt(i)) >= 0)) i++;
            if (i == start) throw error("':' names no keyword");
            return s.substring(start, i);
        }

        private void skip() {
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c == ';') {
                    while (i < s.length() && s.charAt(i) != '\n') i++;
                } else if (Character.isWhitespace(c) || c == ',') {
                    i++;
                } else {
                    return;
                }
            }
        }

        private int line() {
            int n = 1;
            for (int k = 0; k < i && k < s.length(); k++) if (s.charAt(k) == '\n') n++;
            return n;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("line " + line() + ": " + what);
        }
    }
}

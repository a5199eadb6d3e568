package guestlab.image;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The kernel modules of a kernel package, with what each needs, read from each module's .modinfo
 * strings as modinfo(8) reads them: {@code depends=} (modules it links against), {@code softdep=}
 * "pre:" entries (modules it asks for at run time, e.g. ext4 asks the crypto API for crc32c) and
 * {@code alias=} (other names it answers to, e.g. "crypto-crc32c", "fs-ext4"). Modules built into
 * the kernel (modules.builtin, modules.builtin.modinfo) are known too, and need no loading.
 * Debian's package ships no modules.dep, so this is how a load order is found.
 *
 * <p>Names are the kernel's: '-' and '_' are the same character in a module name.
 */
public final class ModuleSet {
    /** One module: its .ko file relative to the modules directory, or null when built in. */
    private record Module(String name, String path, List<String> depends, List<String> softPre, boolean cpuSpecific) {}

    private final Map<String, Module> modules = new TreeMap<>();
    /** Alias (canonical spelling) to the modules answering to it. */
    private final Map<String, Set<String>> aliases = new TreeMap<>();

    private ModuleSet() {}

    /** The modules under {@code dir} (a lib/modules/VERSION directory). */
    public static ModuleSet scan(Path dir) throws IOException {
        ModuleSet set = new ModuleSet();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path ko : walk.filter(p -> p.toString().endsWith(".ko")).sorted().toList()) {
                set.addModule(dir.relativize(ko).toString(), Files.readAllBytes(ko));
            }
        }
        Path builtin = dir.resolve("modules.builtin");
        if (Files.exists(builtin)) set.addBuiltin(Files.readAllBytes(builtin));
        Path builtinInfo = dir.resolve("modules.builtin.modinfo");
        if (Files.exists(builtinInfo)) set.addBuiltinModinfo(Files.readAllBytes(builtinInfo));
        return set;
    }

    /**
     * The modules of a kernel .deb, read from its data archive without unpacking it to disk;
     * paths are relative to its lib/modules/VERSION directory.
     */
    public static ModuleSet fromDeb(Path kernelDeb) throws IOException {
        ModuleSet set = new ModuleSet();
        DebArchive.forEachEntry(kernelDeb, (path, entry, data) -> {
            if (!path.startsWith("lib/modules/") || !entry.isFile() || entry.isSymbolicLink() || entry.isLink()) return;
            String rel = path.substring(path.indexOf('/', "lib/modules/".length()) + 1);
            if (rel.endsWith(".ko")) set.addModule(rel, data.readAllBytes());
            else if (rel.equals("modules.builtin")) set.addBuiltin(data.readAllBytes());
            else if (rel.equals("modules.builtin.modinfo")) set.addBuiltinModinfo(data.readAllBytes());
        });
        if (set.modules.isEmpty()) throw new IOException(kernelDeb + " has no kernel modules under lib/modules");
        return set;
    }

    private void addModule(String path, byte[] ko) throws IOException {
        try {
            addModuleInfo(path, ko);
        } catch (IllegalArgumentException | IndexOutOfBoundsException | ArithmeticException e) {
            throw new IOException(path + ": " + e.getMessage(), e);
        }
    }

    private void addModuleInfo(String path, byte[] ko) {
        String file = path.substring(path.lastIndexOf('/') + 1);
        String name = canonical(first(modinfo(ko, "name"), file.substring(0, file.length() - ".ko".length())));
        String deps = first(modinfo(ko, "depends"), "");
        List<String> softPre = new ArrayList<>();
        for (String s : modinfo(ko, "softdep")) softPre.addAll(softPre(s));
        boolean cpu = false;
        for (String a : modinfo(ko, "alias")) {
            if (a.startsWith("cpu:")) cpu = true;
            else if (!a.contains(":") && !a.contains("*")) alias(a, name);
        }
        List<String> depends = deps.isEmpty() ? List.of() : Arrays.stream(deps.split(",")).map(ModuleSet::canonical).toList();
        modules.put(name, new Module(name, path, depends, List.copyOf(softPre), cpu));
    }

    /** modules.builtin: one line per built-in module, its path as if it were a file ("kernel/lib/crc32c.ko"). */
    private void addBuiltin(byte[] list) {
        for (String line : new String(list, StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) continue;
            String file = line.substring(line.lastIndexOf('/') + 1).replaceFirst("\\.ko$", "");
            modules.putIfAbsent(canonical(file), new Module(canonical(file), null, List.of(), List.of(), false));
        }
    }

    /** modules.builtin.modinfo: NUL-separated "module.key=value" strings; the aliases of built-in modules. */
    private void addBuiltinModinfo(byte[] info) {
        for (String s : new String(info, StandardCharsets.UTF_8).split("\0")) {
            int dot = s.indexOf('.');
            if (dot < 0 || !s.startsWith("alias=", dot + 1)) continue;
            String alias = s.substring(dot + 1 + "alias=".length());
            if (!alias.contains(":") && !alias.contains("*")) alias(alias, canonical(s.substring(0, dot)));
        }
    }

    private void alias(String alias, String module) {
        aliases.computeIfAbsent(canonical(alias), k -> new TreeSet<>()).add(module);
    }

    /** "pre: a b post: c" -> [a, b]. */
    private static List<String> softPre(String softdep) {
        List<String> out = new ArrayList<>();
        boolean pre = false;
        for (String token : softdep.trim().split("\\s+")) {
            if (token.equals("pre:")) pre = true;
            else if (token.equals("post:")) pre = false;
            else if (pre && !token.isEmpty()) out.add(canonical(token));
        }
        return out;
    }

    /**
     * Every value of {@code key} among the NUL-separated "key=value" strings of a module's
     * .modinfo section, as modinfo(8) reads them. Only that section: other sections hold strings
     * that look alike (a printf format "name=%s" in .rodata).
     */
    static List<String> modinfo(byte[] ko, String key) {
        ByteBuffer elf = ByteBuffer.wrap(ko).order(ByteOrder.LITTLE_ENDIAN);
        int[] section = modinfoSection(elf);
        String prefix = key + "=";
        List<String> values = new ArrayList<>();
        for (String s : new String(ko, section[0], section[1], StandardCharsets.UTF_8).split("\0")) {
            if (s.startsWith(prefix)) values.add(s.substring(prefix.length()));
        }
        return values;
    }

    /** Offset and size of the .modinfo section of a little-endian ELF64 file. */
    private static int[] modinfoSection(ByteBuffer elf) {
        if (elf.limit() < 64 || elf.getInt(0) != 0x464c457f || elf.get(4) != 2 || elf.get(5) != 1) {
            throw new IllegalArgumentException("not a little-endian ELF64 file");
        }
        long shoff = elf.getLong(0x28);
        int shentsize = Short.toUnsignedInt(elf.getShort(0x3a));
        int shnum = Short.toUnsignedInt(elf.getShort(0x3c));
        int shstrndx = Short.toUnsignedInt(elf.getShort(0x3e));
        long names = elf.getLong(Math.toIntExact(shoff + (long) shstrndx * shentsize + 0x18));
        for (int i = 0; i < shnum; i++) {
            int sh = Math.toIntExact(shoff + (long) i * shentsize);
            int name = Math.toIntExact(names + Integer.toUnsignedLong(elf.getInt(sh)));
            if (isName(elf, name, ".modinfo")) {
                return new int[] {Math.toIntExact(elf.getLong(sh + 0x18)), Math.toIntExact(elf.getLong(sh + 0x20))};
            }
        }
        throw new IllegalArgumentException("has no .modinfo section: not a kernel module");
    }

    private static boolean isName(ByteBuffer elf, int at, String name) {
        if (at + name.length() >= elf.limit()) return false;
        for (int j = 0; j < name.length(); j++) if (elf.get(at + j) != name.charAt(j)) return false;
        return elf.get(at + name.length()) == 0;
    }

    private static String first(List<String> values, String otherwise) {
        return values.isEmpty() ? otherwise : values.getFirst();
    }

    /** Module names are spelt with '_' by the kernel; file names often with '-'. */
    static String canonical(String name) {
        return name.replace('-', '_');
    }

    // --- the index file ------------------------------------------------------------------------

    /**
     * Writes the set as a small text file (about 4000 lines for Debian's kernel), so it is read
     * in milliseconds instead of from the 70 MB package: "module NAME PATH|- DEPENDS|- SOFTPRE|- cpu|any"
     * and "alias ALIAS MODULE" lines.
     */
    public void write(Path index) throws IOException {
        StringBuilder out = new StringBuilder();
        for (Module m : modules.values()) {
            out.append("module ").append(m.name()).append(' ').append(m.path() == null ? "-" : m.path()).append(' ')
                    .append(m.depends().isEmpty() ? "-" : String.join(",", m.depends())).append(' ')
                    .append(m.softPre().isEmpty() ? "-" : String.join(",", m.softPre())).append(' ')
                    .append(m.cpuSpecific() ? "cpu" : "any").append('\n');
        }
        for (Map.Entry<String, Set<String>> a : aliases.entrySet()) {
            for (String m : a.getValue()) out.append("alias ").append(a.getKey()).append(' ').append(m).append('\n');
        }
        Path tmp = Files.createTempFile(index.toAbsolutePath().getParent(), "." + index.getFileName(), ".tmp");
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            Files.writeString(tmp, out);
            Files.move(tmp, index, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * The modules of {@code kernelDeb}, from {@code index} when it exists, else read from the
     * package (saying so: it takes seconds) and written there for next time.
     */
    public static ModuleSet indexed(Path index, Path kernelDeb, java.util.function.Consumer<String> progress) throws IOException {
        if (Files.isRegularFile(index)) return read(index);
        progress.accept("reading the list of kernel modules from " + kernelDeb.getFileName() + " (once per kit)");
        ModuleSet set = fromDeb(kernelDeb);
        set.write(index);
        return set;
    }

    /** A set written by {@link #write}. */
    public static ModuleSet read(Path index) throws IOException {
        ModuleSet set = new ModuleSet();
        for (String line : Files.readAllLines(index)) {
            String[] f = line.split(" ");
            if (f[0].equals("module") && f.length == 6) {
                set.modules.put(f[1], new Module(f[1], f[2].equals("-") ? null : f[2], list(f[3]), list(f[4]), f[5].equals("cpu")));
            } else if (f[0].equals("alias") && f.length == 3) {
                set.alias(f[1], f[2]);
            } else {
                throw new IOException(index + ": not a module index (line: " + line + "); delete it and it is made again");
            }
        }
        return set;
    }

    private static List<String> list(String field) {
        return field.equals("-") ? List.of() : List.of(field.split(","));
    }

    // --- load order ----------------------------------------------------------------------------

    /**
     * The module {@code name} stands for: a module of that name (built in or not), else the one
     * answering to it as an alias (among several, one that works on any CPU, e.g. crc32c_generic
     * rather than crc32c_intel, whose CPU feature TCG's default CPU lacks); null if none.
     */
    private String resolve(String name) {
        String n = canonical(name);
        if (modules.containsKey(n)) return n;
        Set<String> providers = aliases.getOrDefault(n, Set.of());
        return providers.stream()
                .filter(modules::containsKey)
                .min(Comparator.comparing((String p) -> modules.get(p).cpuSpecific()).thenComparing(p -> p))
                .orElse(null);
    }

    /** The names among {@code wanted} that are neither a module (built in or not) nor an alias of one. */
    public List<String> unknown(Collection<String> wanted) {
        return wanted.stream().filter(w -> resolve(w) == null).toList();
    }

    /** The names of every module, built in or not, for "did you mean". */
    public Set<String> names() {
        return modules.keySet();
    }

    /**
     * The .ko files to load for {@code wanted}, dependencies first (each module's {@code depends=},
     * then its soft "pre:" dependencies, then the module), as paths relative to the modules
     * directory; built-in modules need no file and are left out. An unknown name, or an unknown
     * {@code depends=} entry, is an error naming it; an unknown soft dependency is skipped, as
     * modprobe skips it.
     */
    public List<String> loadOrder(Collection<String> wanted) {
        Set<String> ordered = new LinkedHashSet<>();
        for (String w : wanted) {
            String m = resolve(w);
            if (m == null) throw new IllegalArgumentException("kernel module " + w + " is not in the kernel package");
            visit(m, ordered, new LinkedHashSet<>());
        }
        List<String> out = new ArrayList<>();
        for (String m : ordered) if (modules.get(m).path() != null) out.add(modules.get(m).path());
        return out;
    }

    private void visit(String m, Set<String> done, Set<String> path) {
        if (done.contains(m)) return;
        if (!modules.containsKey(m)) throw new IllegalArgumentException("kernel module " + m + " is not in the kernel package");
        if (!path.add(m)) throw new IllegalStateException("kernel modules depend on each other in a circle: " + path);
        Module mod = modules.get(m);
        for (String d : mod.depends()) visit(d, done, path);
        for (String s : mod.softPre()) {
            String provider = resolve(s);
            if (provider != null && !path.contains(provider)) visit(provider, done, path);
        }
        path.remove(m);
        done.add(m);
    }
}

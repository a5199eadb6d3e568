package guestlab.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The kernel modules of an unpacked kernel package, with their dependencies read from each
 * module's .modinfo strings ("name=..." and "depends=a,b"), as modinfo(8) reads them. Debian's
 * package ships no modules.dep, so this is how load order is found.
 */
public final class ModuleSet {
    private final Map<String, Path> files = new HashMap<>();
    private final Map<String, List<String>> depends = new HashMap<>();

    private ModuleSet() {}

    /** Indexes every .ko under {@code dir}. */
    public static ModuleSet scan(Path dir) throws IOException {
        ModuleSet set = new ModuleSet();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path ko : walk.filter(p -> p.toString().endsWith(".ko")).toList()) {
                Map<String, String> info = modinfo(Files.readAllBytes(ko));
                String name = info.getOrDefault("name", ko.getFileName().toString().replace(".ko", "").replace('-', '_'));
                set.files.put(name, ko);
                String deps = info.getOrDefault("depends", "");
                set.depends.put(name, deps.isEmpty() ? List.of() : List.of(deps.split(",")));
            }
        }
        return set;
    }

    /** The key=value strings of a module's .modinfo section (NUL-separated). */
    static Map<String, String> modinfo(byte[] ko) {
        Map<String, String> info = new HashMap<>();
        for (String key : List.of("name", "depends")) {
            byte[] needle = ("\0" + key + "=").getBytes(StandardCharsets.US_ASCII);
            int at = indexOf(ko, needle);
            if (at < 0) continue;
            int start = at + needle.length;
            int end = start;
            while (end < ko.length && ko[end] != 0) end++;
            info.put(key, new String(ko, start, end - start, StandardCharsets.US_ASCII));
        }
        return info;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    /** Module names are spelt with '_' by the kernel; file names often with '-'. */
    private static String canonical(String name) {
        return name.replace('-', '_');
    }

    /**
     * The modules to load, dependencies first, for {@code wanted} (missing modules are an error
     * naming them; built-in ones should not be asked for).
     */
    public List<Path> loadOrder(List<String> wanted) {
        Set<String> ordered = new LinkedHashSet<>();
        for (String w : wanted) visit(canonical(w), ordered, new LinkedHashSet<>());
        List<Path> out = new ArrayList<>();
        for (String m : ordered) out.add(files.get(m));
        return out;
    }

    private void visit(String m, Set<String> done, Set<String> path) {
        if (done.contains(m)) return;
        if (!files.containsKey(m)) throw new IllegalArgumentException("kernel module " + m + " is not in the kernel package");
        if (!path.add(m)) throw new IllegalStateException("kernel modules depend on each other in a circle: " + path);
        for (String d : depends.get(m)) visit(canonical(d), done, path);
        path.remove(m);
        done.add(m);
    }

    public boolean has(String name) {
        return files.containsKey(canonical(name));
    }
}

package guestlab.fuzz;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a target's seed inputs into its Jazzer inputs directory
 * (src/test/resources/PACKAGE/CLASSInputs/METHOD/), one file per named seed. The targets' main
 * methods call it, so the seeds in the repository can be regenerated from the code that
 * documents them: {@code java -cp CLASSPATH guestlab.vhostuser.VhostUserFuzzTest java-core/src/test/resources}.
 */
public final class SeedFiles {
    private SeedFiles() {}

    public static void write(Path resources, Class<?> target, String method, Map<String, byte[]> seeds) throws IOException {
        Path dir = resources.resolve(target.getPackageName().replace('.', '/'))
                .resolve(target.getSimpleName() + "Inputs").resolve(method);
        Files.createDirectories(dir);
        for (Map.Entry<String, byte[]> s : seeds.entrySet()) {
            Files.write(dir.resolve(s.getKey()), s.getValue());
        }
        System.out.println(seeds.size() + " inputs in " + dir);
    }
}

package guestlab.architecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.EvaluationResult;
import guestlab.devices.UpwardImportFixture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The layering rules of {@link Layers}, held against guestlab's main code; and proof that they bite. */
class ArchitectureTest {
    private static JavaClasses main;

    @BeforeAll
    static void importMain() {
        main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("guestlab");
    }

    private static List<ArchRule> allRules() {
        List<ArchRule> rules = new ArrayList<>(Layers.neverUpward());
        rules.addAll(Layers.nevers());
        rules.add(Layers.noCycles());
        return rules;
    }

    @Test
    void theMainCodeHasEveryLayer() {
        for (Layers.Layer l : Layers.ORDER) {
            for (String p : l.packages()) {
                String pkg = p.substring(0, p.length() - 2);
                assertTrue(main.stream().anyMatch(c -> c.getPackageName().startsWith(pkg)),
                        "no main class in " + pkg + " (layer " + l.name() + "): Layers is out of date");
            }
        }
    }

    /** Each package's package-info.java says what the package is for (the newcomer's map). */
    @Test
    void everyPackageSaysItsJob() throws IOException {
        Path src = Path.of("src/main/java/guestlab");
        assertTrue(Files.isDirectory(src), "run from java-core: " + src.toAbsolutePath());
        try (Stream<Path> dirs = Files.walk(src)) {
            List<Path> silent = dirs.filter(Files::isDirectory).filter(ArchitectureTest::holdsJava)
                    .filter(d -> !Files.exists(d.resolve("package-info.java"))).toList();
            assertEquals(List.of(), silent, "packages without a package-info.java");
        }
    }

    private static boolean holdsJava(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(f -> f.toString().endsWith(".java"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @TestFactory
    Stream<DynamicTest> theMainCodeKeepsEveryRule() {
        return allRules().stream().map(r -> DynamicTest.dynamicTest(r.getDescription(), () -> r.check(main)));
    }

    @Test
    void aDeviceThatImportsATransportBreaksTheRules() {
        JavaClasses bad = new ClassFileImporter().importClasses(UpwardImportFixture.class);
        List<String> reports = allRules().stream().map(r -> r.allowEmptyShould(true).evaluate(bad))
                .filter(EvaluationResult::hasViolation).map(res -> res.getFailureReport().toString()).toList();
        assertEquals(1, reports.size(), "one rule broken: " + reports);
        assertTrue(reports.getFirst().contains("devices never imports a layer above it"), reports.getFirst());
        assertTrue(reports.getFirst().contains("UpwardImportFixture") && reports.getFirst().contains("ServedDevice"),
                reports.getFirst());
    }
}

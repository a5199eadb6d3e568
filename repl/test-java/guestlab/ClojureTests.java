package guestlab;

import clojure.java.api.Clojure;
import clojure.lang.IFn;
import clojure.lang.Keyword;
import clojure.lang.Var;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs every clojure.test namespace under repl/test through JUnit, one dynamic test per
 * deftest, so Surefire counts and reports them like the Java tests.
 */
class ClojureTests {
    @TestFactory
    Stream<DynamicContainer> clojureTests() throws IOException, URISyntaxException {
        Clojure.var("clojure.core", "require").invoke(Clojure.read("guestlab.test-bridge"));
        IFn testVars = Clojure.var("guestlab.test-bridge", "test-vars");
        IFn runVar = Clojure.var("guestlab.test-bridge", "run-var");
        Path root = Path.of(ClojureTests.class.getResource("/guestlab/test_bridge.clj").toURI()).getParent().getParent();
        List<String> namespaces;
        try (Stream<Path> files = Files.walk(root)) {
            namespaces = files.map(p -> root.relativize(p).toString())
                    .filter(p -> p.endsWith("_test.clj"))
                    .map(p -> p.substring(0, p.length() - 4).replace('/', '.').replace('_', '-'))
                    .sorted().toList();
        }
        return namespaces.stream().map(ns -> DynamicContainer.dynamicContainer(ns,
                ((List<?>) testVars.invoke(ns)).stream().map(v -> {
                    String name = ((Var) v).sym.getName();
                    return DynamicTest.dynamicTest(name, () -> {
                        Map<?, ?> result = (Map<?, ?>) runVar.invoke(v);
                        Object skipped = result.get(Keyword.intern("skipped"));
                        if (skipped != null) {
                            System.out.println("[qemu] skipped " + ns + "/" + name + ": " + skipped);
                            Assumptions.abort(ns + "/" + name + " skipped: " + skipped);
                        }
                        if (!Boolean.TRUE.equals(result.get(Keyword.intern("ok")))) {
                            fail(ns + "/" + name + " failed:\n" + result.get(Keyword.intern("report")));
                        }
                    });
                })));
    }
}

package guestlab.testing;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;

import java.io.File;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.lang.reflect.Method;

/**
 * A test (or every test of a class) that starts qemu-system-x86_64: tagged {@code qemu}, and
 * skipped, as a JUnit assumption with the reason in the report, where QEMU is not installed or
 * the run says {@code -Dguestlab.qemu=false}. Surefire runs these by default.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("qemu")
@ExtendWith(RequiresQemu.Check.class)
public @interface RequiresQemu {
    /**
     * Where QEMU is missing: the class's {@code @BeforeAll} and {@code @AfterAll} (a boot, often,
     * and its teardown) are not run, and each test is skipped by an assumption before it starts,
     * so the report lists every one of them as skipped, with the reason (a class aborted as a
     * whole would be reported as no tests at all). The reason also goes to the test output.
     */
    final class Check implements BeforeEachCallback, InvocationInterceptor {
        public static final String BINARY = "qemu-system-x86_64";

        /** Why QEMU tests cannot run here, or null when they can. */
        public static String missing() {
            if ("false".equals(System.getProperty("guestlab.qemu"))) return "QEMU tests are turned off (-Dguestlab.qemu=false)";
            return missingOn(System.getenv("PATH"));
        }

        /** Why QEMU tests cannot run with {@code path} as PATH, or null when qemu-system-x86_64 is on it. */
        public static String missingOn(String path) {
            for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
                if (!dir.isEmpty() && new File(dir, BINARY).canExecute()) return null;
            }
            return BINARY + " not found on PATH: install qemu-system-x86";
        }

        @Override
        public void beforeEach(ExtensionContext context) {
            String why = missing();
            if (why != null) {
                System.out.println("[qemu] skipped " + context.getRequiredTestClass().getName() + "."
                        + context.getRequiredTestMethod().getName() + ": " + why);
            }
            Assumptions.assumeTrue(why == null, why);
        }

        @Override
        public void interceptBeforeAllMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> method,
                                             ExtensionContext context) throws Throwable {
            if (missing() == null) invocation.proceed();
            else invocation.skip();
        }

        @Override
        public void interceptAfterAllMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> method,
                                            ExtensionContext context) throws Throwable {
            if (missing() == null) invocation.proceed();
            else invocation.skip();
        }
    }
}

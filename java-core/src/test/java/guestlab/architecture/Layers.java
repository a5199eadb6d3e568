package guestlab.architecture;

import com.tngtech.archunit.lang.ArchRule;

import java.util.ArrayList;
import java.util.List;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * guestlab's layers, bottom up, and the rules that keep them: a layer never imports one above
 * it, and the "never" arrows of the design (README, "Design") hold even where the order alone
 * would allow them. {@link ArchitectureTest} checks them against the code.
 */
final class Layers {
    private Layers() {}

    /** Bottom up; each entry's packages (with their subpackages) and what the layer is for. */
    record Layer(String name, String job, String... packages) {}

    static final List<Layer> ORDER = List.of(
            new Layer("posix", "FFM bindings: libc, sockets, eventfd, files", "guestlab.posix.."),
            new Layer("memory", "guest RAM as arena-owned segments", "guestlab.memory.."),
            new Layer("events", "event records and the bus", "guestlab.events.."),
            new Layer("virtio", "the spec: rings, features, typed faults, requests", "guestlab.virtio.."),
            new Layer("lguest", "the seed's ABI byte for byte", "guestlab.lguest.."),
            new Layer("devices", "console, block, net + switch, rng: no transport", "guestlab.devices.."),
            new Layer("transports", "one transport core; the lguest bus and vhost-user on it",
                    "guestlab.transport..", "guestlab.vhostuser.."),
            new Layer("image", "guest kits: Debian packages, initramfs", "guestlab.image.."),
            new Layer("engines", "what runs the CPU: sim and qemu; the guest interface", "guestlab.engine.."),
            new Layer("launcher", "spec -> running guest; the command-line mains", "guestlab.launcher.."));

    /** Layer {@code i} never depends on a layer above it. */
    static List<ArchRule> neverUpward() {
        List<ArchRule> rules = new ArrayList<>();
        for (int i = 0; i < ORDER.size() - 1; i++) {
            Layer low = ORDER.get(i);
            List<String> above = new ArrayList<>();
            for (Layer high : ORDER.subList(i + 1, ORDER.size())) above.addAll(List.of(high.packages()));
            rules.add(noClasses().that().resideInAnyPackage(low.packages())
                    .should().dependOnClassesThat().resideInAnyPackage(above.toArray(String[]::new))
                    .as(low.name() + " never imports a layer above it")
                    .because("layers never import upward (" + low.name() + ": " + low.job() + ")"));
        }
        return rules;
    }

    /** The arrows the order would allow but the design forbids. */
    static List<ArchRule> nevers() {
        return List.of(
                noClasses().that().resideInAPackage("guestlab.devices..")
                        .should().dependOnClassesThat().resideInAnyPackage("guestlab.lguest..")
                        .as("devices never import lguest").because("a device knows no transport"),
                noClasses().that().resideInAnyPackage("guestlab.transport..", "guestlab.vhostuser..", "guestlab.lguest..")
                        .should().dependOnClassesThat().resideInAPackage("guestlab.devices..")
                        .as("transports never import devices").because("a transport serves any VirtioDevice"),
                noClasses().that().resideInAPackage("guestlab.engine.sim..").and().haveSimpleNameEndingWith("Driver")
                        .should().dependOnClassesThat().resideInAPackage("guestlab.devices..")
                        .as("simulated drivers never import devices")
                        .because("a driver speaks the spec (guestlab.virtio), as a guest kernel does, not our device"),
                noClasses().that().resideOutsideOfPackages("guestlab.virtio.driver..", "guestlab.engine.sim..")
                        .should().dependOnClassesThat().resideInAPackage("guestlab.virtio.driver..")
                        .as("only the simulated guest uses the driver side of a virtqueue")
                        .because("the product is the device side"));
    }

    /** No package cycles, subpackages counted apart. */
    static ArchRule noCycles() {
        return slices().matching("guestlab.(**)").should().beFreeOfCycles().as("no package cycles");
    }
}

package guestlab.devices;

/**
 * Which frames of a switch a fault applies to, by the ports they travel between. A port is named
 * by its guest ("a") or by guest and device ("a/net0"); null matches every port. With
 * {@code bothWays} a frame matches in either direction: {@code (from "a", to null, bothWays)} is
 * every frame a's port sends or receives.
 */
public record LinkSelector(String from, String to, boolean bothWays) {
    /** Every frame of the switch. */
    public static final LinkSelector ALL = new LinkSelector(null, null, true);

    boolean matches(EthernetSwitch.Port sender, EthernetSwitch.Port receiver) {
        return (names(sender, from) && names(receiver, to)) || (bothWays && names(receiver, from) && names(sender, to));
    }

    static boolean names(EthernetSwitch.Port port, String name) {
        return name == null || port.guest().equals(name) || port.name().equals(name);
    }

    @Override
    public String toString() {
        if (from == null && to == null) return "every port";
        if (to == null) return (bothWays ? "port " : "from ") + from;
        if (from == null) return (bothWays ? "port " : "to ") + to;
        return from + (bothWays ? " <-> " : " -> ") + to;
    }
}

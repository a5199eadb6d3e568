package guestlab.devices;

import java.util.List;
import java.util.Set;

/**
 * Groups of ports (named by guest or guest/device) that cannot reach each other: a frame between
 * two ports in different groups is cut. A port in no group reaches everyone.
 */
public record Partition(List<Set<String>> groups) {
    public Partition {
        groups = List.copyOf(groups.stream().map(Set::copyOf).toList());
        if (groups.size() < 2) throw new IllegalArgumentException("a partition needs two groups or more, not " + groups.size());
    }

    boolean cuts(EthernetSwitch.Port a, EthernetSwitch.Port b) {
        int ga = group(a), gb = group(b);
        return ga >= 0 && gb >= 0 && ga != gb;
    }

    private int group(EthernetSwitch.Port p) {
        for (int i = 0; i < groups.size(); i++) {
            for (String name : groups.get(i)) if (LinkSelector.names(p, name)) return i;
        }
        return -1;
    }

    @Override
    public String toString() {
        return groups.stream().map(g -> g.stream().sorted().toList().toString()).reduce((x, y) -> x + " | " + y).orElse("");
    }
}

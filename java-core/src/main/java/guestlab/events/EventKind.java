package guestlab.events;

/** What happened. Queue-level kinds carry a queue index; the rest carry -1. */
public enum EventKind {
    /** The driver notified a queue (lguest: LHCALL_NOTIFY into an eventfd; vhost-user: kick fd). */
    KICK,
    /** The device took a descriptor chain from the avail ring. */
    REQUEST,
    /** The device put a chain on the used ring. */
    COMPLETION,
    /** The device interrupted the driver (lguest: LHREQ_IRQ; vhost-user: call fd). */
    INTERRUPT,
    /** The driver changed the device status byte. */
    STATUS,
    /** The device found the guest misbehaving and is now NEEDS_RESET; detail says why. */
    DEVICE_ERROR,
    /** Host-side trouble that is not the guest's fault (a full rx backlog, a host I/O error). */
    HOST_WARNING,
    /** A device's handler (a Clojure function) threw, returned garbage or took too long; that request got IOERR. */
    HANDLER_ERROR,
    /**
     * A fault injected on purpose acted, or was set or cleared: what was done to which request
     * (guestlab.faults) or frame (lost, corrupted, duplicated, cut by a partition).
     */
    FAULT,
    /** Guest lifecycle: started, paused, resumed, stopped, engine died. */
    LIFECYCLE
}

package guestlab.transport;

/**
 * How one transport reaches a device's driver: the part of serving a device that differs
 * between the lguest bus (LHREQ_IRQ, the status byte in the device page) and vhost-user (the
 * call and error eventfds). Everything else is {@link ServedDevice}'s.
 */
public interface DriverLink {
    /** Whether an interrupt for {@code queue} can be delivered now (vhost-user: a call fd is set). */
    boolean canInterrupt(int queue);

    /** The interrupt's name for events ("irq 3", "call fd"); called per interrupt, so keep it built. */
    String interruptName(int queue);

    /** Interrupts the driver for {@code queue}. */
    void interrupt(int queue);

    /** The device's config space changed: let the driver know (section 2.5.2 configuration change notification). */
    void configChanged();

    /**
     * The device broke, the first time since its last reset: tell the driver as the transport can
     * (lguest: NEEDS_RESET in the status byte, section 2.1.2; vhost-user: the error eventfd).
     *
     * @param queue the queue at fault, or -1 for the device as a whole
     */
    void broke(int queue, String reason);
}

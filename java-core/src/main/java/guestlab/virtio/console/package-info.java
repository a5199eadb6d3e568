/** virtio-console on the wire (virtio 1.x section 5.3): a transmit chain parsed into the bytes the guest wrote ({@link guestlab.virtio.console.ConsoleOutput}). */
package guestlab.virtio.console;

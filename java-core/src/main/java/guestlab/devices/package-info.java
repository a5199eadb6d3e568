/**
 * The devices: console, block (over a raw image file), net (with an in-JVM Ethernet switch) and
 * rng. Each implements {@link guestlab.virtio.VirtioDevice} and knows no transport: the same
 * object serves a simulated guest on the lguest bus and a real kernel over vhost-user.
 */
package guestlab.devices;

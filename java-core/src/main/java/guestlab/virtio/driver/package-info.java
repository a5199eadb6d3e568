/**
 * The driver side of a split virtqueue (virtio 1.x section 2.7, driver requirements): what a
 * guest's virtio driver does to a ring. It is not part of the device product; the simulated
 * guests ({@code guestlab.engine.sim}), the tests and the benchmarks use it to drive devices the
 * way a guest kernel would. It trusts the device no more than a device trusts its driver: a used
 * ring that breaks the rules is a typed fault ({@link guestlab.virtio.driver.UsedRingFault}), and
 * a queue's state can be read back as its driver sees it.
 */
package guestlab.virtio.driver;

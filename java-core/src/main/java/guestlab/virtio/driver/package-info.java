/**
 * The driver side of a split virtqueue (virtio 1.x section 2.7, driver requirements): what a
 * guest's virtio driver does to a ring. It is not part of the device product; the simulated
 * guests ({@code guestlab.engine.sim}), the tests and the benchmarks use it to drive devices the
 * way a guest kernel would.
 */
package guestlab.virtio.driver;

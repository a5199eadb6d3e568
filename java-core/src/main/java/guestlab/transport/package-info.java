/**
 * The transport core every transport builds on: {@link guestlab.transport.ServedDevice} (a device's
 * queues, their device threads, interrupts, counters, events, and the fail-and-halt rule) and
 * {@link guestlab.transport.QueueWorker} (one queue's device thread). A transport supplies only a
 * {@link guestlab.transport.DriverLink}: how to interrupt, signal config changes and report a broken device.
 */
package guestlab.transport;

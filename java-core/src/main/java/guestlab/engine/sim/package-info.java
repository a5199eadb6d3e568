/** The simulated engine: a Java "kernel" that walks the lguest device page and drives the devices with simulated drivers through the driver side of the virtqueues, on the calling thread. A driver reaches its device through a DriverTransport: the lguest bus, or a vhost-user back-end anywhere with the guest as its front-end. */
package guestlab.engine.sim;

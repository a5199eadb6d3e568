/** The lguest bus: device descriptors in the page above guest RAM, status changes by notify (lg_set_status), LHREQ_EVENTFD kicks and LHREQ_IRQ interrupts, on the transport core. Simulated guests use it. */
package guestlab.transport.lguest;

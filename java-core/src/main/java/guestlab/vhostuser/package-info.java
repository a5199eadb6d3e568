/**
 * A vhost-user back-end per device, on the transport core: the unix socket and its one connection
 * ({@link guestlab.vhostuser.VhostUserBackend}), the messages ({@code VhostUserSession}), the vring
 * lifecycle ({@code Vrings}). SET_MEM_TABLE is lguest's LHREQ_INITIALIZE, SET_VRING_KICK its
 * LHREQ_EVENTFD, SET_VRING_CALL its LHREQ_IRQ. Real kernels in QEMU reach guestlab's devices through it.
 */
package guestlab.vhostuser;

/**
 * Guest RAM as segments of an {@link java.lang.foreign.Arena} that closing ends: memfd-backed for
 * simulated guests, mapped from a front-end's fds for vhost-user. Every access is bounds-checked by
 * guest-physical address; a closed guest gives {@link guestlab.memory.GuestMemoryClosedException},
 * a mapping fault {@link guestlab.memory.GuestMemoryFaultException}, never a crash.
 */
package guestlab.memory;

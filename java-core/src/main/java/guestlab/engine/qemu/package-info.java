/** The QEMU engine: a real Debian kernel under QEMU (KVM where the host has it, TCG otherwise), controlled over QMP, its console on a serial socket, its devices attached to guestlab's vhost-user back-ends. */
package guestlab.engine.qemu;

/** Linux's lguest_launcher.h ABI, byte for byte: the device page above guest RAM, lguest_device_desc and lguest_vqconfig, LHREQ requests, LGUEST_VRING_ALIGN ring layout, and the hypervisor contract in LHREQ terms. */
package guestlab.lguest;

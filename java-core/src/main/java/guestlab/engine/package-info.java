/**
 * What runs a guest's CPU, and the interface to a running guest that every engine implements
 * ({@link guestlab.engine.Guest}), the spec it starts from ({@link guestlab.engine.GuestSpec},
 * {@link guestlab.engine.DeviceSpec}) and the check of a device's options
 * ({@link guestlab.engine.DeviceOptions}), the one {@link guestlab.engine.DeviceFactory}, what
 * hot-plug is on every engine ({@link guestlab.engine.HotPlug}) and the start
 * {@link guestlab.engine.Rollback}. The engines are in {@code sim} and {@code qemu}.
 */
package guestlab.engine;

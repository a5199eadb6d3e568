/** Helpers every test may use: waiting for a condition with a message that says what was awaited (Await), counting what a test itself opened (Footprint), and skipping QEMU tests with the reason (RequiresQemu). */
package guestlab.testing;

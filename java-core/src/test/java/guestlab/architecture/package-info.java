/** The layering rules of the main code, checked with ArchUnit, and the fixture that proves they catch an upward import. */
package guestlab.architecture;

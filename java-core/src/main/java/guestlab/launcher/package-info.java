/** The top: a guest spec becomes a running guest on the engine it names ({@link guestlab.launcher.Launcher}), and the command-line mains (boot, kit, vhost-user). */
package guestlab.launcher;

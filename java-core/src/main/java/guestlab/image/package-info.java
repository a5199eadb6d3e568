/** Guest kits: Debian's kernel and busybox fetched with apt into a cache, unpacked in Java, made into a reproducible initramfs, and pinned by kit locks. */
package guestlab.image;

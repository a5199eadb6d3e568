package guestlab.virtio;

/** One descriptor's buffer: {@code len} bytes at guest-physical {@code addr}, already bounds-checked. */
public record Buffer(long addr, int len) {}

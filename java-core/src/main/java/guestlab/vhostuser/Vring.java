package guestlab.vhostuser;

import guestlab.posix.EventFd;

/**
 * What the front-end has told us about one virtqueue. Written by the connection thread;
 * {@link #call} and {@link #err} are read by device threads too.
 */
final class Vring {
    int num;
    long descVa, usedVa, availVa;
    boolean addressed;
    int base;
    boolean enabled;
    EventFd kick;
    volatile EventFd call;
    volatile EventFd err;
}

package guestlab.vhostuser;

import guestlab.events.QueueCounters;
import guestlab.posix.EventFd;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.QueueWorker;

/**
 * What the front-end has told us about one virtqueue, and its device thread once it runs.
 * Written by the connection thread; {@link #queue}, {@link #call} and {@link #err} are read by device threads.
 */
final class Vring {
    final QueueCounters counters = new QueueCounters();
    int num;
    long descVa, usedVa, availVa;
    boolean addressed;
    int base;
    boolean enabled;
    EventFd kick;
    volatile EventFd call;
    volatile EventFd err;
    volatile DeviceQueue queue;
    volatile QueueWorker worker;

    boolean running() {
        return worker != null;
    }
}

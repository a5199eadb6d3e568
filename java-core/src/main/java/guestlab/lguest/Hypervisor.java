package guestlab.lguest;

/**
 * The launcher's side of /dev/lguest: what it asks of the hypervisor, as LHREQ requests.
 * LHREQ_EVENTFD carries a real eventfd number, as the original did.
 */
public interface Hypervisor {
    void request(LhReq request);

    /** Applies a request in its wire form, as written to /dev/lguest (GETDMA and BREAK are refused). */
    default void write(byte[] request) {
        request(LhReq.decode(request));
    }
}

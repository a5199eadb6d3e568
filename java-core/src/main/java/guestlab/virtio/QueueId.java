package guestlab.virtio;

/** Names a virtqueue in events and inspection: guest, device, queue index. */
public record QueueId(String guest, String device, int index) {
    @Override
    public String toString() {
        return guest + "/" + device + "/q" + index;
    }
}

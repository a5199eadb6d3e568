package guestlab.devices;

import java.util.function.Consumer;

/** The host end of a console: where guest output goes and where guest input comes from. */
public interface ConsoleHost extends AutoCloseable {
    /** The console device hands over its input sink; the host calls it with bytes for the guest. */
    void connect(Consumer<byte[]> toGuest);

    /** Bytes the guest wrote to its console. */
    void fromGuest(byte[] bytes);

    @Override
    default void close() {}
}

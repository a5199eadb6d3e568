package guestlab.engine.qemu;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A one-connection unix socket server standing in for QEMU in unit tests: line in, text out. */
final class FakeUnixPeer implements AutoCloseable {
    final Path path;
    private final ServerSocketChannel server;
    private SocketChannel peer;

    FakeUnixPeer(Path path) throws IOException {
        this.path = path;
        this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
    }

    void accept() throws IOException {
        peer = server.accept();
    }

    void write(String text) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) peer.write(b);
    }

    /** The next line the client sent, without its newline. */
    String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (true) {
            one.clear();
            if (peer.read(one) < 0) throw new IOException("client closed");
            byte b = one.get(0);
            if (b == '\n') return line.toString(StandardCharsets.UTF_8);
            line.write(b);
        }
    }

    void closePeer() throws IOException {
        peer.close();
    }

    @Override
    public void close() throws IOException {
        if (peer != null) peer.close();
        server.close();
    }
}

package guestlab.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A small raw disk image in a temporary directory (named guestlab-fuzz-..., so fd censuses can
 * tell its fds apart), filled with a pattern that names each byte's sector, and a copy of that
 * content to compare against and to restore between inputs.
 */
public final class DiskImage implements AutoCloseable {
    public final Path dir;
    public final Path path;
    private final byte[] original;

    private DiskImage(Path dir, Path path, byte[] original) {
        this.dir = dir;
        this.path = path;
        this.original = original;
    }

    /** {@code size} need not be whole sectors: the device rounds its capacity up, as QEMU does for raw files. */
    public static DiskImage create(String name, int size) {
        try {
            Path dir = Files.createTempDirectory("guestlab-fuzz-" + name);
            byte[] content = new byte[size];
            for (int i = 0; i < size; i++) content[i] = (byte) ((i >>> 9) * 31 + (i & 511) + 1);
            Path path = dir.resolve("disk.img");
            Files.write(path, content);
            return new DiskImage(dir, path, content);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public byte[] original() {
        return original.clone();
    }

    public int originalSize() {
        return original.length;
    }

    public byte[] read() {
        try {
            return Files.readAllBytes(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public boolean unchanged() {
        return Arrays.equals(read(), original);
    }

    /** Puts the original bytes (and length) back, through the same inode the device has open. */
    public void restore() {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.wrap(original);
            while (b.hasRemaining()) ch.write(b, b.position());
            ch.truncate(original.length);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A path next to the image (for a socket): short enough for sockaddr_un. */
    public Path sibling(String name) {
        return dir.resolve(name);
    }

    @Override
    public void close() {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

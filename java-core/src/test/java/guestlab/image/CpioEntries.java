package guestlab.image;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveInputStream;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** The entries of a cpio archive as the kernel would unpack them: name to entry and bytes (a symlink's bytes are its target). */
record CpioEntries(Map<String, CpioArchiveEntry> entries, Map<String, byte[]> data) {
    static CpioEntries of(Path cpio) throws IOException {
        try (InputStream in = Files.newInputStream(cpio)) {
            return read(in);
        }
    }

    static CpioEntries of(byte[] cpio) throws IOException {
        return read(new ByteArrayInputStream(cpio));
    }

    private static CpioEntries read(InputStream in) throws IOException {
        Map<String, CpioArchiveEntry> entries = new LinkedHashMap<>();
        Map<String, byte[]> data = new LinkedHashMap<>();
        try (CpioArchiveInputStream cpio = new CpioArchiveInputStream(in)) {
            CpioArchiveEntry e;
            while ((e = cpio.getNextEntry()) != null) {
                entries.put(e.getName(), e);
                data.put(e.getName(), cpio.readAllBytes());
            }
        }
        return new CpioEntries(entries, data);
    }

    CpioArchiveEntry get(String name) {
        return entries.get(name);
    }

    String text(String name) {
        return new String(data.get(name), java.nio.charset.StandardCharsets.UTF_8);
    }

    int mode(String name) {
        return (int) entries.get(name).getMode() & 07777;
    }
}

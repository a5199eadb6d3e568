package guestlab.image;

import org.apache.commons.compress.archivers.ar.ArArchiveEntry;
import org.apache.commons.compress.archivers.ar.ArArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class DebArchiveTest {
    @TempDir
    Path dir;

    /** A .deb as dpkg-deb builds one: debian-binary, control.tar.xz, data.tar.xz in an ar archive. */
    private Path deb(String... entries) throws Exception {
        ByteArrayOutputStream tarBytes = new ByteArrayOutputStream();
        try (XZCompressorOutputStream xz = new XZCompressorOutputStream(tarBytes);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(xz)) {
            for (String spec : entries) {
                String[] kv = spec.split("=", 2);
                if (kv[0].contains("->")) {
                    String[] link = kv[0].split("->");
                    TarArchiveEntry e = new TarArchiveEntry(link[0], TarArchiveEntry.LF_SYMLINK);
                    e.setLinkName(link[1]);
                    tar.putArchiveEntry(e);
                } else {
                    byte[] data = kv[1].getBytes();
                    TarArchiveEntry e = new TarArchiveEntry(kv[0]);
                    e.setSize(data.length);
                    e.setMode(0100755);
                    tar.putArchiveEntry(e);
                    tar.write(data);
                }
                tar.closeArchiveEntry();
            }
        }
        Path p = dir.resolve("test.deb");
        try (OutputStream out = Files.newOutputStream(p); ArArchiveOutputStream ar = new ArArchiveOutputStream(out)) {
            member(ar, "debian-binary", "2.0\n".getBytes());
            member(ar, "control.tar.xz", controlTarXz());
            member(ar, "data.tar.xz", tarBytes.toByteArray());
        }
        return p;
    }

    private static byte[] controlTarXz() throws Exception {
        byte[] control = "Package: busybox-static\nVersion: 1:1.35.0-4+b3\nArchitecture: amd64\nDescription: x\n more\n".getBytes();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (XZCompressorOutputStream xz = new XZCompressorOutputStream(bytes);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(xz)) {
            TarArchiveEntry e = new TarArchiveEntry("./control");
            e.setSize(control.length);
            tar.putArchiveEntry(e);
            tar.write(control);
            tar.closeArchiveEntry();
        }
        return bytes.toByteArray();
    }

    @Test
    void readsTheControlFileWithoutTheData() throws Exception {
        var c = DebArchive.control(deb("./bin/busybox=BUSYBOX"));
        assertEquals("busybox-static", c.get("Package"));
        assertEquals("1:1.35.0-4+b3", c.get("Version"));
        assertEquals("amd64", c.get("Architecture"));
        assertEquals("x", c.get("Description"));
    }

    private static void member(ArArchiveOutputStream ar, String name, byte[] data) throws Exception {
        ar.putArchiveEntry(new ArArchiveEntry(name, data.length));
        ar.write(data);
        ar.closeArchiveEntry();
    }

    @Test
    void extractsTheWantedFilesAndLinks() throws Exception {
        Path deb = deb("./bin/busybox=BUSYBOX", "./usr/share/doc/readme=DOC", "./bin/sh->busybox=");
        Path out = dir.resolve("out");
        assertEquals(2, DebArchive.extract(deb, out, n -> n.startsWith("bin/")));
        assertEquals("BUSYBOX", Files.readString(out.resolve("bin/busybox")));
        assertTrue(Files.isExecutable(out.resolve("bin/busybox")));
        assertTrue(Files.isSymbolicLink(out.resolve("bin/sh")));
        assertFalse(Files.exists(out.resolve("usr")));
    }

    @Test
    void anEntryEscapingTheDestinationIsRefused() throws Exception {
        Path deb = deb("./../../evil=X");
        var e = assertThrows(java.io.IOException.class, () -> DebArchive.extract(deb, dir.resolve("out"), n -> true));
        assertTrue(e.getMessage().contains("escapes"));
        assertFalse(Files.exists(dir.getParent().resolve("evil")));
    }

    @Test
    void somethingThatIsNotADebIsRefused() throws Exception {
        Path junk = dir.resolve("junk.deb");
        Files.writeString(junk, "!<arch>\n");
        assertThrows(java.io.IOException.class, () -> DebArchive.extract(junk, dir.resolve("out"), n -> true));
    }
}

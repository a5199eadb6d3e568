package guestlab.engine.qemu;

import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** What GuestFiles types in the guest's shell, and how it reads the answers; the transfers themselves need a guest (files_test.clj). */
class GuestFilesTest {
    @Test
    void aPathIsOneShellWordWhateverItHolds() {
        assertEquals("'/tmp/a b'", GuestFiles.q("/tmp/a b"));
        assertEquals("'/tmp/it'\\''s $HOME `x`'", GuestFiles.q("/tmp/it's $HOME `x`"));
    }

    @Test
    void parentAndName() {
        assertEquals("/", GuestFiles.parentOf("/x"));
        assertEquals("/a/b", GuestFiles.parentOf("/a/b/c"));
        assertEquals("c", GuestFiles.nameOf("/a/b/c"));
    }

    @Test
    void aPieceIsItsWholeMegabytesStraightToTheirPlaceAndTheRestThroughHead() {
        assertEquals("dd if=/dev/vdb iflag=direct bs=1M of='/r/.f.guestlab-put' seek=64 count=3 conv=notrunc 2>&1"
                        + " && { dd if=/dev/vdb iflag=direct bs=1M skip=3 count=1 2>/dev/null | head -c 5 >> '/r/.f.guestlab-put'; }",
                GuestFiles.appendPiece("vdb", 64L << 20, (3L << 20) + 5, "'/r/.f.guestlab-put'"));
        assertEquals("dd if=/dev/vdb iflag=direct bs=1M of='p' seek=0 count=2 conv=notrunc 2>&1",
                GuestFiles.appendPiece("vdb", 0, 2L << 20, "'p'"));
        assertEquals("{ dd if=/dev/vdb iflag=direct bs=1M skip=0 count=1 2>/dev/null | head -c 10 >> 'p'; }",
                GuestFiles.appendPiece("vdb", 0, 10, "'p'"));
    }

    @Test
    void anAnswerIsTheLastLineOfItsShapeWhateverElseTheConsoleShowed() {
        var r = new SerialConsole.Result("1024 4096\n[1]+  Done  head -c 1 /dev/zero\nhead: write error\n", 0);
        assertEquals(Optional.of("1024 4096"), GuestFiles.line(r, Pattern.compile("(\\d+) (\\d+)")));
        assertEquals(Optional.empty(), GuestFiles.line(r, Pattern.compile("\\d+")));
    }

    @Test
    void amounts() {
        assertEquals("18 bytes", GuestFiles.amount(18));
        assertEquals("10.0 MiB", GuestFiles.amount(10L << 20));
        assertEquals("1.50 GiB", GuestFiles.amount(3L << 29));
    }
}

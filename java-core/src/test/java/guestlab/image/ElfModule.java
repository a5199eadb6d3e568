package guestlab.image;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The smallest file shaped like a kernel module: a little-endian ELF64 relocatable file whose only
 * sections are .modinfo (the given "key=value" strings) and the section-name table.
 */
final class ElfModule {
    private ElfModule() {}

    static byte[] of(String... modinfo) {
        byte[] info = (String.join("\0", modinfo) + "\0").getBytes(StandardCharsets.UTF_8);
        byte[] names = "\0.modinfo\0.shstrtab\0".getBytes(StandardCharsets.UTF_8);
        int infoAt = 64, namesAt = infoAt + info.length, shoff = (namesAt + names.length + 7) & ~7;
        ByteBuffer b = ByteBuffer.allocate(shoff + 3 * 64).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 0x464c457f).put(4, (byte) 2).put(5, (byte) 1).put(6, (byte) 1);
        b.putShort(0x10, (short) 1).putShort(0x12, (short) 62).putInt(0x14, 1); // ET_REL, x86-64, version 1
        b.putLong(0x28, shoff).putShort(0x34, (short) 64).putShort(0x3a, (short) 64).putShort(0x3c, (short) 3).putShort(0x3e, (short) 2);
        b.put(infoAt, info).put(namesAt, names);
        section(b, shoff + 64, 1, 1, infoAt, info.length);     // .modinfo: PROGBITS
        section(b, shoff + 128, 10, 3, namesAt, names.length); // .shstrtab: STRTAB
        return b.array();
    }

    private static void section(ByteBuffer b, int at, int name, int type, long offset, long size) {
        b.putInt(at, name).putInt(at + 4, type).putLong(at + 0x18, offset).putLong(at + 0x20, size).putLong(at + 0x30, 1);
    }
}

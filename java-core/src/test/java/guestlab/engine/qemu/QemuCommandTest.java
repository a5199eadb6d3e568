package guestlab.engine.qemu;

import guestlab.image.GuestKit;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class QemuCommandTest {
    static final GuestKit KIT = new GuestKit(Path.of("/k/vmlinuz"), Path.of("/k/initrd.img"), "6.1.0-1-amd64");

    QemuCommand cmd() {
        return QemuCommand.forKit(KIT, Accelerator.tcg("test")).withRunDir(Path.of("/run/g,1"));
    }

    @Test
    void theFullArgumentList() {
        List<String> a = cmd().withMemoryBytes(256 * QemuCommand.MIB).withVcpus(2).withExtraCmdline(" quiet ")
                .withDevice(List.of("-chardev", "socket,id=vu0,path=/run/vu0.sock", "-device", "vhost-user-rng-pci,chardev=vu0"))
                .args();
        assertEquals(List.of("/usr/bin/qemu-system-x86_64",
                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-machine", "q35,memory-backend=mem", "-accel", "tcg",
                "-m", "256M", "-smp", "2",
                "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
                "-kernel", "/k/vmlinuz", "-initrd", "/k/initrd.img",
                "-append", "console=ttyS0 panic=-1 quiet",
                "-chardev", "socket,id=ser0,path=/run/g,,1/serial.sock,server=on,wait=off", "-serial", "chardev:ser0",
                "-qmp", "unix:/run/g,,1/qmp.sock,server=on,wait=off",
                "-S",
                "-chardev", "socket,id=vu0,path=/run/vu0.sock", "-device", "vhost-user-rng-pci,chardev=vu0",
                "-device", "pcie-root-port,id=hotplug0,chassis=1", "-device", "pcie-root-port,id=hotplug1,chassis=2",
                "-device", "pcie-root-port,id=hotplug2,chassis=3"), a);
    }

    @Test
    void aVhostUserNetDeviceSitsOnItsNetdevAndCarriesItsIdForQmp() {
        List<String> a = cmd().withVhostUserDevice("net", "vu1", Path.of("/run/n1.sock"), "52:54:00:12:34:56").args();
        assertEquals(List.of("-chardev", "socket,id=vu1,path=/run/n1.sock", "-netdev", "vhost-user,id=nvu1,chardev=vu1",
                "-device", "virtio-net-pci,netdev=nvu1,mac=52:54:00:12:34:56,romfile=,vectors=0,id=vu1"),
                a.subList(a.indexOf("-S") + 1, a.indexOf("-S") + 7));
    }

    @Test
    void kvmAddsTheHostCpuAndRunningNeedsNoDashS() {
        List<String> a = cmd().withAccelerator("kvm").withStartPaused(false).args();
        assertEquals(List.of("-accel", "kvm", "-cpu", "host"), a.subList(a.indexOf("-accel"), a.indexOf("-accel") + 4));
        assertFalse(a.contains("-S"));
        assertEquals("console=ttyS0 panic=-1", a.get(a.indexOf("-append") + 1));
    }

    @Test
    void devicesCannotBeChangedFromOutside() {
        QemuCommand c = cmd().withDevice(new java.util.ArrayList<>(List.of("-device", "x")));
        assertThrows(UnsupportedOperationException.class, () -> c.devices().add(Collections.emptyList()));
        assertThrows(UnsupportedOperationException.class, () -> c.devices().get(0).add("y"));
    }

    @Test
    void badOptionsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> cmd().withMemoryBytes(1000));
        assertThrows(IllegalArgumentException.class, () -> cmd().withVcpus(0));
        assertThrows(IllegalArgumentException.class, () -> cmd().withAccelerator("hvf"));
        assertThrows(IllegalStateException.class, () -> cmd().withRunDir(null).args());
    }
}

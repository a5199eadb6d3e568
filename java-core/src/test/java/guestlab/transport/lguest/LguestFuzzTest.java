package guestlab.transport.lguest;

import com.code_intelligence.jazzer.junit.FuzzTest;
import guestlab.devices.ConsoleDevice;
import guestlab.devices.ConsoleHost;
import guestlab.devices.RngDevice;
import guestlab.engine.sim.SimHypervisor;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.fuzz.ByteCursor;
import guestlab.fuzz.ProcessCensus;
import guestlab.fuzz.SeedFiles;
import guestlab.fuzz.UncaughtExceptions;
import guestlab.lguest.DevicePage;
import guestlab.lguest.LguestDeviceDesc;
import guestlab.lguest.LguestRing;
import guestlab.lguest.LguestVqConfig;
import guestlab.lguest.LhReq;
import guestlab.memory.MemfdMemory;
import guestlab.posix.EventFd;
import guestlab.virtio.DeviceStatus;
import guestlab.virtio.Features;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

/**
 * Fuzzes the lguest bus from the simulated guest's side: what a hostile guest writes into the
 * device page (status, features, ring pfns, config, and the launcher-owned fields next to them),
 * the addresses it notifies, what it puts in its rings, and LHREQ words written to the
 * hypervisor as a launcher would (SimHypervisor, {@link LguestBus}, {@code BusDevice}).
 *
 * <p>Three devices sit on the bus: rng0 and con0 are the guest's to abuse; "echo" is the control,
 * driven correctly by {@link PageDriver} once the fuzzer's operations are done. The fuzzer cannot
 * touch echo's descriptor or the RAM reserved for it, and never notifies echo's addresses
 * (that would be driving the control, not disturbing it); device DMA that lands in echo's
 * descriptor is undone before the control runs, since the page is guest memory.
 *
 * <p>Invariants: the guest's notify hypercall never throws; an LHREQ write is applied or refused
 * with IllegalArgumentException / IllegalStateException; no device fails with anything but a
 * RingFault (a "device failed" event); after the fuzzed devices are reset, the control device
 * boots and echoes within 5 s; and when the bus closes, no guestlab thread and no eventfd is left.
 */
@Timeout(20)
class LguestFuzzTest {
    static final int MAX_OPS = 48;
    static final long RAM = 256 << 10, PAGE = LguestRing.PAGE_SIZE;
    /** Pages from here up to RAM are the control device's (its ring at ECHO_PFN, its buffer after). */
    static final long RESERVED = RAM - 4 * PAGE, ECHO_PFN = RESERVED / PAGE, ECHO_BUF = RESERVED + 2 * PAGE;
    static final long ECHO_FEATURES = Features.RING_COMMON | Features.bit(EchoDevice.F_SHOUT);
    static final int OK = DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK;
    static final String GUEST = "lgfuzz";
    /**
     * lguest's LHREQ_IRQ refused (-EINVAL) an irq of LGUEST_IRQS or more: NR_VECTORS -
     * FIRST_EXTERNAL_VECTOR, 224 on x86, in the last lguest.
     */
    static final long LGUEST_IRQS = 224;

    static final int OP_PAGE = 0, OP_STATUS = 1, OP_NOTIFY = 2, OP_POKE = 3, OP_LHREQ = 4, OP_BOOT = 5, OP_OFFER = 6,
            OP_WAIT = 7, OPS = 8;

    private static Fixture fixture;

    @FuzzTest(maxDuration = "10m")
    void guestAndLauncher(byte[] input) throws Exception {
        if (fixture == null) fixture = new Fixture();
        UncaughtExceptions.drain();
        try (Run r = new Run(fixture)) {
            r.run(new ByteCursor(input));
            r.control();
        }
        fixture.checkReleased();
        List<String> deaths = UncaughtExceptions.drain();
        if (!deaths.isEmpty()) throw new AssertionError(deaths.getFirst());
    }

    @AfterAll
    static void closeFixture() {
        if (fixture != null) fixture.close();
        fixture = null;
    }

    /** Memory and the launcher's spare eventfds, shared by the run; the census to return to after each input. */
    private static final class Fixture implements AutoCloseable {
        final MemfdMemory mem = MemfdMemory.allocate("guestlab-fuzz-lguest", RAM + PAGE);
        final SecureRandom random = new SecureRandom();
        final EventFd[] spare = {EventFd.create(), EventFd.create()};
        final ProcessCensus.Baseline census = new ProcessCensus.Baseline(ProcessCensus::deviceKind);

        Fixture() {
            UncaughtExceptions.install();
        }

        void checkReleased() {
            String grew = census.check(1000);
            if (grew != null) throw new AssertionError("left after the bus closed: " + grew);
        }

        @Override
        public void close() {
            for (EventFd e : spare) e.close();
            mem.close();
        }
    }

    /** One guest: a fresh hypervisor and bus over the shared memory. */
    private static final class Run implements AutoCloseable {
        final Fixture f;
        final MemfdMemory mem;
        final EventBus events = new EventBus(64);
        final ConcurrentLinkedQueue<String> deviceFailures = new ConcurrentLinkedQueue<>();
        final AutoCloseable subscription;
        final SimHypervisor hv;
        final LguestBus bus;
        final EchoDevice echo = new EchoDevice(1);
        final List<Long> descs;
        final long echoDesc;
        final byte[] echoDescBytes;
        final int[] queueCounts = {1, 2};
        final List<String> log = new ArrayList<>();

        Run(Fixture f) {
            this.f = f;
            this.mem = f.mem;
            mem.clear(0, RAM);
            subscription = events.subscribe(e -> {
                if (e.kind() == EventKind.DEVICE_ERROR && e.detail().contains(": device failed: ")) deviceFailures.add(e.detail());
            });
            hv = new SimHypervisor(GUEST, mem, events);
            hv.request(new LhReq.Initialize(0, RAM / PAGE, 0));
            Map<String, VirtioDevice> devices = new LinkedHashMap<>();
            devices.put("rng0", new RngDevice(f.random));
            devices.put("con0", new ConsoleDevice(new NullConsole()));
            devices.put("echo", echo);
            bus = new LguestBus(GUEST, mem, RAM, new DevicePage(mem, RAM, (int) PAGE), hv, events, devices);
            hv.onExit(bus::handleNotify);
            descs = DevicePage.scan(mem, RAM, (int) PAGE);
            echoDesc = descs.get(2);
            echoDescBytes = mem.read(echoDesc, LguestDeviceDesc.size(1, BusDevice.FEATURE_LEN, echo.config().length));
        }

        void run(ByteCursor c) {
            for (int i = 0; i < MAX_OPS && !c.done(); i++) {
                int op = c.u8() % OPS;
                switch (op) {
                    case OP_PAGE -> {
                        // Anything in the two fuzzed descriptors, launcher-owned fields included.
                        long room = echoDesc - RAM;
                        long at = RAM + c.u16() % room;
                        byte[] data = c.lengthPrefixed(64);
                        data = Arrays.copyOf(data, (int) Math.min(data.length, echoDesc - at));
                        mem.write(at, data);
                        log.add("page " + data.length + "@+" + (at - RAM));
                    }
                    case OP_STATUS -> {
                        long d = descs.get(c.u8() % 2);
                        int status = c.u8();
                        mem.writeU8(d + LguestDeviceDesc.STATUS_OFFSET, status);
                        log.add("status " + (d - RAM) + "=" + status);
                        notifyGuest(d);
                    }
                    case OP_NOTIFY -> {
                        int mode = c.u8();
                        long address = switch (mode % 3) {
                            case 0 -> descs.get((mode >> 2) % 2);
                            case 1 -> ringAddress((mode >> 2) % 2, (mode >> 3) % 2);
                            default -> c.u32();
                        };
                        if (controls(address)) break;
                        log.add("notify 0x" + Long.toHexString(address));
                        notifyGuest(address);
                    }
                    case OP_POKE -> {
                        long at = c.u32() % RESERVED;
                        byte[] data = c.lengthPrefixed(512);
                        data = Arrays.copyOf(data, (int) Math.min(data.length, RESERVED - at));
                        mem.write(at, data);
                        log.add("poke " + data.length + "@0x" + Long.toHexString(at));
                    }
                    case OP_LHREQ -> lhreq(c);
                    case OP_BOOT -> boot(c.u8() % 2, c.u64(), c.u8());
                    case OP_OFFER -> offer(c);
                    default -> {
                        log.add("wait");
                        java.util.concurrent.locks.LockSupport.parkNanos(200_000); // let device threads run
                    }
                }
            }
        }

        /** The guest's LHCALL_NOTIFY: whatever the address, the hypercall returns. */
        void notifyGuest(long address) {
            try {
                hv.notify(address);
            } catch (Throwable t) {
                throw failure("the notify hypercall of 0x" + Long.toHexString(address) + " threw", t);
            }
        }

        /** Addresses that would drive the control device rather than disturb it. */
        boolean controls(long address) {
            return address == echoDesc || (address >= RESERVED && address < RAM);
        }

        long ringAddress(int dev, int q) {
            long pfn = mem.readU32(descs.get(dev) + LguestDeviceDesc.vqOffset(Math.min(q, queueCounts[dev] - 1))
                    + LguestVqConfig.PFN_OFFSET);
            return pfn * PAGE;
        }

        /** A write to /dev/lguest: u16-prefixed words; LHREQ_EVENTFD names one of the launcher's eventfds or -1. */
        void lhreq(ByteCursor c) {
            byte[] words = c.lengthPrefixed(20);
            int fdChoice = c.u8();
            ByteBuffer b = ByteBuffer.wrap(words).order(ByteOrder.LITTLE_ENDIAN);
            if (words.length == 12 && b.getInt(0) == LhReq.LHREQ_EVENTFD) {
                if (controls(Integer.toUnsignedLong(b.getInt(4)))) return;
                b.putInt(8, fdChoice % 3 == 2 ? -1 : f.spare[fdChoice % 3].fd()); // never a stranger's fd
            }
            long badIrq = words.length == 8 && b.getInt(0) == LhReq.LHREQ_IRQ && Integer.toUnsignedLong(b.getInt(4)) >= LGUEST_IRQS
                    ? Integer.toUnsignedLong(b.getInt(4)) : -1;
            log.add("lhreq " + java.util.HexFormat.of().formatHex(words));
            try {
                hv.write(words);
            } catch (IllegalArgumentException | IllegalStateException refused) {
                return; // the launcher's malformed or repeated request, refused as lguest refused it
            } catch (Throwable t) {
                throw failure("LHREQ " + java.util.HexFormat.of().formatHex(words) + " threw", t);
            }
            if (badIrq >= 0) throw failure("LHREQ_IRQ " + badIrq + " accepted: lguest refused irqs from " + LGUEST_IRQS + " up", null);
        }

        /** The driver's initialization with the fuzzer's features and ring pages (lguest_device.c's order). */
        void boot(int dev, long features, int pfnChoice) {
            long d = descs.get(dev);
            int nq = queueCounts[dev];
            long pfn = 1 + pfnChoice % (ECHO_PFN - 2 * nq - 1);
            log.add(String.format("boot %d features 0x%x pfn %d", dev, features, pfn));
            setStatus(d, DeviceStatus.ACKNOWLEDGE);
            setStatus(d, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
            mem.write(d + LguestDeviceDesc.guestFeaturesOffset(nq, BusDevice.FEATURE_LEN),
                    LguestDeviceDesc.featureBytes(features, BusDevice.FEATURE_LEN));
            setStatus(d, mem.readU8(d + LguestDeviceDesc.STATUS_OFFSET) | DeviceStatus.FEATURES_OK);
            for (int q = 0; q < nq; q++) {
                mem.writeU32(d + LguestDeviceDesc.vqOffset(q) + LguestVqConfig.PFN_OFFSET, pfn + 2L * q);
            }
            setStatus(d, mem.readU8(d + LguestDeviceDesc.STATUS_OFFSET) | DeviceStatus.DRIVER_OK);
        }

        void setStatus(long d, int status) {
            mem.writeU8(d + LguestDeviceDesc.STATUS_OFFSET, status);
            notifyGuest(d);
        }

        /** One descriptor into a fuzzed device's ring (as its page says it is placed), offered and kicked. */
        void offer(ByteCursor c) {
            int dev = c.u8() % 2, q = c.u8() % queueCounts[dev];
            int slot = c.u8();
            long addr = c.u32(), len = c.u32();
            int flags = c.u16(), next = c.u16();
            long ringAt = ringAddress(dev, q);
            VringLayout ring = LguestRing.at(ringAt / PAGE, 64); // rng and console queues are 64 entries
            if (ringAt == 0 || ring.used() + ring.usedBytes() > RESERVED) return;
            slot %= ring.size();
            long e = ring.descriptor(slot);
            mem.writeU64(e + VringLayout.DESC_ADDR, addr);
            mem.writeU32(e + VringLayout.DESC_LEN, len);
            mem.writeU16(e + VringLayout.DESC_FLAGS, flags);
            mem.writeU16(e + VringLayout.DESC_NEXT, next);
            int idx = mem.readU16(ring.availIdx());
            mem.writeU16(ring.availSlot(idx), slot);
            mem.writeU16(ring.availIdx(), idx + 1);
            log.add(String.format("offer %d/%d slot %d {0x%x, %d, %d, %d}", dev, q, slot, addr, len, flags, next));
            notifyGuest(ring.desc());
        }

        /** Resets the fuzzed devices, repairs DMA damage to the control's descriptor, and drives the control. */
        void control() throws InterruptedException {
            for (int dev = 0; dev < 2; dev++) setStatus(descs.get(dev), 0);
            for (String failure : deviceFailures) throw failure("a device failed with an exception other than RingFault: " + failure, null);
            mem.write(echoDesc, echoDescBytes);
            PageDriver driver = new PageDriver(mem, hv, echoDesc);
            driver.setStatus(0);
            driver.boot(ECHO_FEATURES, ECHO_PFN);
            byte[] answer = driver.echo(0, "ping".getBytes(StandardCharsets.US_ASCII), ECHO_BUF);
            if (answer == null || !new String(answer, StandardCharsets.US_ASCII).equals("ping")) {
                throw failure("the control device did not echo (status " + DeviceStatus.describe(bus.status("echo")) + ")", null);
            }
            if (bus.status("echo") != OK) throw failure("the control device is " + DeviceStatus.describe(bus.status("echo")), null);
        }

        AssertionError failure(String what, Throwable cause) {
            return new AssertionError(what + "\n  input: " + String.join("; ", log), cause);
        }

        @Override
        public void close() {
            try {
                subscription.close();
            } catch (Exception ignored) {
                // unsubscribing cannot fail
            }
            bus.close();
        }
    }

    /** A console host end that keeps nothing. */
    private static final class NullConsole implements ConsoleHost {
        @Override
        public void connect(Consumer<byte[]> toGuest) {
        }

        @Override
        public void fromGuest(byte[] bytes) {
        }
    }

    // --- seeds ----------------------------------------------------------------------------------

    /** Writes the seed corpus: {@code java -cp TEST_CLASSPATH guestlab.transport.LguestFuzzTest java-core/src/test/resources} */
    public static void main(String[] args) throws Exception {
        SeedFiles.write(Path.of(args[0]), LguestFuzzTest.class, "guestAndLauncher", seeds());
    }

    /** Builds inputs in the layout {@link Run#run} reads. */
    static final class Script {
        final ByteCursor.Writer w = new ByteCursor.Writer();

        Script boot(int dev, long features, int pfn) {
            w.u8(OP_BOOT).u8(dev).u64(features).u8(pfn);
            return this;
        }

        Script offer(int dev, int q, int slot, long addr, long len, int flags, int next) {
            w.u8(OP_OFFER).u8(dev).u8(q).u8(slot).u32(addr).u32(len).u16(flags).u16(next);
            return this;
        }

        Script status(int dev, int status) {
            w.u8(OP_STATUS).u8(dev).u8(status);
            return this;
        }

        Script page(int offset, byte[] data) {
            w.u8(OP_PAGE).u16(offset).lengthPrefixed(data);
            return this;
        }

        Script notifyRaw(long address) {
            w.u8(OP_NOTIFY).u8(2).u32(address);
            return this;
        }

        Script lhreq(int fdChoice, long... words) {
            ByteBuffer b = ByteBuffer.allocate(4 * words.length).order(ByteOrder.LITTLE_ENDIAN);
            for (long v : words) b.putInt((int) v);
            w.u8(OP_LHREQ).lengthPrefixed(b.array()).u8(fdChoice);
            return this;
        }

        Script waitABit() {
            w.u8(OP_WAIT);
            return this;
        }

        byte[] bytes() {
            return w.toByteArray();
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        long rngFeatures = Features.RING_COMMON;
        s.put("boot-both-and-serve", new Script().boot(0, rngFeatures, 10).boot(1, rngFeatures, 20)
                .offer(0, 0, 0, 0x8000, 64, 2, 0).offer(1, 1, 0, 0x9000, 16, 0, 0).waitABit().bytes());
        s.put("features-not-offered", new Script().boot(0, -1L, 10).bytes());
        s.put("status-games", new Script().status(0, 1).status(0, 3).status(0, 7).status(0, 1).status(0, 0)
                .status(1, 0xff).status(1, 0).bytes());
        s.put("scribbled-descriptor", new Script().page(0, new byte[] {3, 9, 99, 99, 0, 64, 0, 1, 0, 5, 0, 0, 0})
                .boot(0, rngFeatures, 10).page(5, new byte[] {0, 0, 0, 0, (byte) 0xff, (byte) 0xff, 0, 0}).status(0, OK)
                .bytes());
        // con0's descriptor follows rng0's (5 + 8 + 2 * 8 + 0 bytes): its first vq's pfn is at +38.
        s.put("ring-pfn-in-device-page", new Script().page(38, new byte[] {(byte) (RAM / PAGE), 0, 0, 0})
                .status(1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK).status(1, OK).bytes());
        s.put("bad-chains", new Script().boot(0, rngFeatures, 10).offer(0, 0, 0, 0x8000, 64, 3, 0)
                .offer(0, 0, 1, RAM + 0x10, 64, 2, 0).waitABit().boot(0, rngFeatures, 30).offer(0, 0, 2, -1L, 64, 2, 0)
                .waitABit().bytes());
        s.put("launcher-requests", new Script().lhreq(0, LhReq.LHREQ_IRQ, 3).lhreq(0, LhReq.LHREQ_EVENTFD, 0x5000, 0)
                .notifyRaw(0x5000).lhreq(2, LhReq.LHREQ_EVENTFD, 0x5000, 0).notifyRaw(0x5000)
                .lhreq(0, LhReq.LHREQ_INITIALIZE, 0, 64, 0).lhreq(0, LhReq.LHREQ_GETDMA, 0).lhreq(0, LhReq.LHREQ_BREAK, 0)
                .lhreq(0, 9).lhreq(0, LhReq.LHREQ_IRQ).bytes());
        s.put("stray-notifies", new Script().notifyRaw(0).notifyRaw(RAM + 1).notifyRaw(0xffffffffL).bytes());
        return s;
    }
}

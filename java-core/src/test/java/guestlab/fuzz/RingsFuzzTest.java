package guestlab.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import guestlab.devices.BlockDevice;
import guestlab.virtio.block.BlockSpec;
import guestlab.devices.ConsoleDevice;
import guestlab.devices.ConsoleHost;
import guestlab.devices.EthernetSwitch;
import guestlab.devices.NetDevice;
import guestlab.devices.RngDevice;
import guestlab.events.EventBus;
import guestlab.events.QueueCounters;
import guestlab.memory.GuestMemory;
import guestlab.memory.MemfdMemory;
import guestlab.virtio.DeviceContext;
import guestlab.virtio.DeviceQueue;
import guestlab.virtio.Features;
import guestlab.virtio.Injectable;
import guestlab.virtio.QueueId;
import guestlab.virtio.QueueState;
import guestlab.virtio.ChainView;
import guestlab.virtio.RingFault;
import guestlab.virtio.VirtioDevice;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static guestlab.virtio.VringLayout.DESC_F_INDIRECT;
import static guestlab.virtio.VringLayout.DESC_F_NEXT;
import static guestlab.virtio.VringLayout.DESC_F_WRITE;

/**
 * Fuzzes split virtqueues as a hostile driver writes them (descriptor tables, indirect tables,
 * avail ring and index, raw bytes anywhere) in a memfd, and each device's handling of what it
 * pops: block (on a temporary image), rng, console, and net (on a switch with a peer port). The
 * device runs on the fuzzer's thread, synchronously, as {@code DeviceHarness} runs it.
 *
 * <p>The input: a device selector, feature bits, a size (and for non-block devices optionally an
 * arbitrary placement) for each queue, then up to {@value #MAX_OPS} operations (see
 * {@link Run#op}).
 *
 * <p>Invariants: {@code handle} either returns or throws {@link RingFault} with a queue broken
 * (the device goes NEEDS_RESET); nothing else escapes, host-side injection included (where the
 * device's documented IllegalArgument/IllegalState refusals are allowed). For the first chain of
 * each {@code handle}, an independent reading of the spec ({@link ReferenceWalk}) must agree with
 * the device: a chain it takes must be valid, a chain it refuses must break the rule the device
 * names ({@link RingFault#reason()}), and a too long indirect table is not called a bad length.
 *
 * <p>Block: the image changes only where a T_OUT request the device popped could write, and only
 * to that request's data. To make this exact, block inputs are confined: descriptors point into a
 * data area or outside memory (never at rings or indirect tables), indirect tables live in their
 * own area written only by the harness, and raw writes go only to the data area. So within one
 * {@code handle} call the chains' structure cannot change, and the harness decodes every chain the
 * call will pop before it runs (with {@link ChainView}, the device's own decoder, which
 * over-approximates where the two differ). The one thing that could still change a request while
 * the device works is an earlier chain of the same call writing (T_IN, GET_ID, status) into a later
 * chain's readable bytes; such an input is counted as unverifiable rather than judged.
 */
@Timeout(10)
class RingsFuzzTest {
    static final int MAX_OPS = 64;
    static final long MEM = 256 << 10;
    /** Queue q's ring (at the fixed placement) starts at 0x1000 + q * 0x4000; 256 entries need 3 pages. */
    static final long RING_END = 0x9000;
    static final long IND_START = MEM - 0x4000, IND_TABLE = 0x100; // 64 tables of 16 descriptors
    static final long DATA_START = RING_END, DATA_END = IND_START;
    static final int IMAGE_BYTES = 64 * 1024 + 300;

    static final int BLOCK = 0, RNG = 1, CONSOLE = 2, NET = 3, DEVICES = 4;
    static final int F_EVENT_IDX = 1, F_INDIRECT_DESC = 2, F_VERSION_1 = 4, F_PLACED = 8, F_READ_ONLY = 16;
    static final int OP_DESC = 0, OP_INDIRECT = 1, OP_OFFER = 2, OP_AVAIL_IDX = 3, OP_HANDLE = 4, OP_POKE = 5,
            OP_HOST = 6, OP_RING_FLAGS = 7, OPS = 8;
    static final int ADDR_DATA = 0, ADDR_OUTSIDE = 1, ADDR_INDIRECT = 2, ADDR_RAW = 3;

    private static Fixture fixture;
    /** Inputs whose block writes could not be judged exactly (see the class comment); reported at the end. */
    static long unverifiable, judged;

    @FuzzTest(maxDuration = "10m")
    void rings(byte[] input) throws Exception {
        if (fixture == null) fixture = new Fixture();
        Run r = new Run(fixture, new ByteCursor(input));
        try {
            r.run();
        } finally {
            r.close();
        }
    }

    @AfterAll
    static void close() {
        if (fixture != null) fixture.close();
        fixture = null;
        if (judged + unverifiable > 0) {
            System.err.printf("RingsFuzzTest: block writes judged exactly in %d inputs, unverifiable in %d%n", judged, unverifiable);
        }
    }

    /** What a run shares: the memory, the image, the devices that reset cleanly, the switch. */
    private static final class Fixture implements AutoCloseable {
        final MemfdMemory mem = MemfdMemory.allocate("guestlab-fuzz-rings", MEM);
        final DiskImage image = DiskImage.create("rings", IMAGE_BYTES);
        final BlockDevice block, blockRo;
        final RngDevice rng = new RngDevice(new SecureRandom());
        final EthernetSwitch sw = new EthernetSwitch("fuzz");
        final List<byte[]> peerFrames = new ArrayList<>();
        final EthernetSwitch.Port peer = sw.join(f -> {
            if (peerFrames.size() < 64) peerFrames.add(f);
        });

        Fixture() {
            try {
                block = BlockDevice.open(image.path, false);
                blockRo = BlockDevice.open(image.path, true);
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void close() {
            block.close();
            blockRo.close();
            peer.close();
            mem.close();
            image.close();
        }
    }

    /** A console host end that keeps nothing (guest output is only counted). */
    private static final class NullConsole implements ConsoleHost {
        Consumer<byte[]> toGuest;
        long bytes;

        @Override
        public void connect(Consumer<byte[]> toGuest) {
            this.toGuest = toGuest;
        }

        @Override
        public void fromGuest(byte[] b) {
            bytes += b.length;
        }
    }

    /** A T_OUT the device may have served: where it may write, and what. */
    private record Allowed(long offset, byte[] data) {}

    /** One input: the device, its queues, and the context it runs in. */
    private static final class Run implements DeviceContext, AutoCloseable {
        final Fixture f;
        final ByteCursor c;
        final GuestMemory mem;
        final int kind;
        final VirtioDevice device;
        final NullConsole console = new NullConsole();
        final long features;
        final DeviceQueue[] queues;
        final int[] availIdx;
        final List<String> log = new ArrayList<>();
        final List<Allowed> allowed = new ArrayList<>();
        boolean broken;         // a RingFault: the transport stops calling the device (NEEDS_RESET)
        boolean verifiable = true;
        int depth;              // handle() calls on the stack (inject and start call back into it)

        Run(Fixture f, ByteCursor c) throws Exception {
            this.f = f;
            this.c = c;
            this.mem = f.mem;
            mem.clear(0, MEM);
            f.peerFrames.clear();
            kind = c.u8() % DEVICES;
            int fb = c.u8();
            device = switch (kind) {
                case BLOCK -> (fb & F_READ_ONLY) != 0 ? f.blockRo : f.block;
                case RNG -> f.rng;
                case CONSOLE -> new ConsoleDevice(console);
                default -> new NetDevice(new byte[] {0x52, 0x54, 0, 0x12, 0x34, 0x56}, f.sw);
            };
            long wanted = ((fb & F_EVENT_IDX) != 0 ? Features.bit(Features.RING_EVENT_IDX) : 0)
                    | ((fb & F_INDIRECT_DESC) != 0 ? Features.bit(Features.RING_INDIRECT_DESC) : 0)
                    | ((fb & F_VERSION_1) != 0 ? Features.bit(Features.VERSION_1) : 0);
            features = (device.features() & ~Features.RING_COMMON) | (device.features() & wanted);
            int n = device.queueCount();
            queues = new DeviceQueue[n];
            availIdx = new int[n];
            boolean placed = (fb & F_PLACED) != 0 && kind != BLOCK;
            log.add(List.of("block", "rng", "console", "net").get(kind) + String.format(" features 0x%x", features));
            for (int q = 0; q < n; q++) {
                int max = device.maxQueueSize(q);
                int size = 1 << (c.u8() % (Integer.numberOfTrailingZeros(max) + 1));
                VringLayout ring = placed
                        ? new VringLayout(size, c.u32() % (2 * MEM), c.u32() % (2 * MEM), c.u32() % (2 * MEM))
                        : VringLayout.contiguous(size, 0x1000 + 0x4000L * q, 4096);
                log.add("q" + q + " " + ring);
                try {
                    queues[q] = new DeviceQueue(mem, ring, features, new QueueId("fuzz", "dev", q), new EventBus(16),
                            new QueueCounters());
                } catch (RingFault e) {
                    broken = true; // a transport refuses to start the device: nothing more to do
                    return;
                }
            }
            try {
                device.start(this);
            } catch (Throwable t) {
                throw failure("start threw", t);
            }
        }

        void run() {
            for (int i = 0; i < MAX_OPS && !c.done() && !broken; i++) op();
            if (kind == BLOCK) checkImage();
        }

        /** One driver (or host) action. */
        void op() {
            int op = c.u8() % OPS;
            switch (op) {
                case OP_DESC -> {
                    DeviceQueue q = pick(c.u8());
                    int i = c.u16() % q.layout().size();
                    writeDesc(q.layout().descriptor(i), "desc " + q.id().index() + "/" + i);
                }
                case OP_INDIRECT -> {
                    int table = c.u8() % (int) ((MEM - IND_START) / IND_TABLE);
                    int i = c.u8() % (int) (IND_TABLE / VringLayout.DESC_SIZE);
                    writeDesc(VringLayout.descriptorAt(IND_START + IND_TABLE * table, i), "indirect " + table + "/" + i);
                }
                case OP_OFFER -> {
                    DeviceQueue q = pick(c.u8());
                    int head = c.u16();
                    int qi = q.id().index();
                    VringLayout l = q.layout();
                    mem.writeU16(l.availSlot(availIdx[qi]), head);
                    availIdx[qi] = (availIdx[qi] + 1) & 0xffff;
                    mem.writeU16(l.availIdx(), availIdx[qi]);
                    log.add("offer " + qi + ":" + head);
                }
                case OP_AVAIL_IDX -> {
                    DeviceQueue q = pick(c.u8());
                    int idx = c.u16();
                    int qi = q.id().index();
                    availIdx[qi] = idx;
                    mem.writeU16(q.layout().availIdx(), idx);
                    log.add("avail.idx " + qi + "=" + idx);
                }
                case OP_HANDLE -> handle(c.u8() % queues.length);
                case OP_POKE -> {
                    long at = c.u32();
                    byte[] data = c.lengthPrefixed(512);
                    if (kind == BLOCK) { // only the data area: the harness keeps rings and tables to itself
                        if (at < DATA_START || at >= DATA_END) at = DATA_START + at % (DATA_END - DATA_START);
                        data = Arrays.copyOf(data, (int) Math.min(data.length, DATA_END - at));
                    } else {
                        at %= MEM;
                        data = Arrays.copyOf(data, (int) Math.min(data.length, MEM - at));
                    }
                    mem.write(at, data);
                    log.add("poke " + data.length + "@0x" + Long.toHexString(at));
                }
                case OP_HOST -> host();
                default -> {
                    DeviceQueue q = pick(c.u8());
                    VringLayout l = q.layout();
                    int flags = c.u16(), usedEvent = c.u16();
                    mem.writeU16(l.availFlags(), flags); // interrupt suppression: never read as chain structure
                    mem.writeU16(l.usedEvent(), usedEvent);
                    log.add("avail.flags/used_event " + q.id().index());
                }
            }
        }

        DeviceQueue pick(int sel) {
            return queues[sel % queues.length];
        }

        /** addr mode, u32 addr, u32 len, u16 flags, u16 next: block's addresses are confined (class comment). */
        void writeDesc(long at, String what) {
            int mode = c.u8();
            long raw = c.u32(), len = c.u32();
            int flags = c.u16(), next = c.u16();
            long addr = switch (mode % 4) {
                case ADDR_DATA -> DATA_START + raw % (DATA_END - DATA_START);
                case ADDR_OUTSIDE -> (mode & 0x10) != 0 ? -raw : MEM + raw;
                case ADDR_INDIRECT -> IND_START + raw % (MEM - IND_START);
                default -> (mode & 0x10) != 0 ? c.u64() : raw % MEM;
            };
            if (kind == BLOCK && addr >= 0 && addr < MEM) {
                boolean indirectDesc = (flags & DESC_F_INDIRECT) != 0;
                if (indirectDesc) {
                    addr = IND_START + addr % (MEM - IND_START); // a table the harness owns; past MEM it runs out of memory
                } else {
                    if (addr < DATA_START || addr >= DATA_END) addr = DATA_START + addr % (DATA_END - DATA_START);
                    if (addr + len > DATA_END && addr + len <= MEM) len = DATA_END - addr; // never into the tables
                }
            }
            mem.writeU64(at + VringLayout.DESC_ADDR, addr);
            mem.writeU32(at + VringLayout.DESC_LEN, len);
            mem.writeU16(at + VringLayout.DESC_FLAGS, flags);
            mem.writeU16(at + VringLayout.DESC_NEXT, next);
            log.add(String.format("%s {0x%x, %d, %d, %d}", what, addr, len, flags, next));
        }

        /** Host-side traffic: console input, net frames from the peer port or injected, link changes. */
        void host() {
            int what = c.u8();
            byte[] data = c.lengthPrefixed(2048);
            log.add("host " + what % 4 + " " + data.length + "b");
            try {
                switch (kind) {
                    case CONSOLE -> {
                        if (what % 2 == 0) ((Injectable) device).inject(data);
                        else console.toGuest.accept(data);
                    }
                    case NET -> {
                        NetDevice net = (NetDevice) device;
                        switch (what % 4) {
                            case 0 -> net.inject(data);
                            case 1 -> f.peer.send(data);
                            case 2 -> net.setLinkUp((what & 4) != 0);
                            default -> {
                                for (int i = 0; i < (what >> 2) + 1; i++) f.peer.send(broadcast(data)); // fill the backlog
                            }
                        }
                    }
                    default -> { }
                }
            } catch (IllegalArgumentException | IllegalStateException refused) {
                // Injectable's documented refusals: not a frame, no driver, link down, backlog full
            }
        }

        static byte[] broadcast(byte[] payload) {
            byte[] frame = Arrays.copyOf(new byte[] {-1, -1, -1, -1, -1, -1, 2, 0, 0, 0, 0, 1, 8, 0}, 14 + Math.min(payload.length, 1500));
            System.arraycopy(payload, 0, frame, 14, frame.length - 14);
            return frame;
        }

        /** Runs the device on queue {@code qi}, as its device thread would after a kick, and judges the outcome. */
        void handle(int qi) {
            if (broken) return;
            DeviceQueue q = queues[qi];
            int before = q.lastAvail();
            ReferenceWalk.Verdict verdict = ReferenceWalk.next(mem, q.layout(), before,
                    Features.has(features, Features.RING_INDIRECT_DESC));
            if (kind == BLOCK && depth == 0) expectBlockWrites(q);
            log.add("handle " + qi);
            depth++;
            try {
                device.handle(qi);
            } catch (RingFault fault) {
                broken = true;
                if (Arrays.stream(queues).noneMatch(DeviceQueue::isBroken)) {
                    throw failure("RingFault without a broken queue", fault);
                }
                if (q.lastAvail() == before && q.isBroken() && verdict != null) {
                    // The first chain of this call was refused, before the device could write anything.
                    if (verdict == ReferenceWalk.Verdict.OK) throw failure("a valid chain refused", fault);
                    if (!ReferenceWalk.reasons(verdict).contains(q.fault())) {
                        throw failure("the device says " + q.fault() + " where the reference says " + verdict + ": "
                                + q.brokenReason(), fault);
                    }
                    if (ReferenceWalk.misnamesTableLength(verdict, q.brokenReason())) {
                        throw failure("a too long indirect table called a bad length: " + q.brokenReason(), fault);
                    }
                }
                return;
            } catch (AssertionError e) {
                throw e; // a check failed in a nested handle (a wake from inside the device)
            } catch (Throwable t) {
                throw failure("handle(" + qi + ") threw something other than RingFault", t);
            } finally {
                depth--;
            }
            if (q.lastAvail() != before && verdict != null && verdict != ReferenceWalk.Verdict.OK) {
                throw failure("the device took a chain the spec forbids (" + verdict + ")", null);
            }
        }

        /**
         * Block: decodes every chain this call will pop (their structure cannot change during the
         * call) and records the T_OUTs among them; gives up judging if one chain writes where a
         * later one reads.
         */
        void expectBlockWrites(DeviceQueue q) {
            QueueState s = q.state();
            int ahead = (mem.readU16(q.layout().availIdx()) - s.lastAvail()) & 0xffff;
            if (ahead > q.layout().size()) return; // refused before any chain
            List<long[]> written = new ArrayList<>(); // {addr, len} of earlier chains' writable buffers
            for (int k = 0; k < ahead; k++) {
                int head = ChainView.headAt(mem, s, s.lastAvail() + k);
                ChainView v = ChainView.read(mem, s, head);
                if (v.problem() != null) return; // the device stops here
                List<ChainView.Descriptor> bufs = v.descriptors().stream().filter(d -> !d.indirect()).toList();
                List<ChainView.Descriptor> readable = bufs.stream().filter(d -> !d.writable()).toList();
                for (ChainView.Descriptor d : readable) {
                    for (long[] w : written) {
                        if (d.addr() < w[0] + w[1] && w[0] < d.addr() + d.len()) verifiable = false;
                    }
                }
                byte[] bytes = readAll(readable);
                if (bytes == null) {
                    verifiable = false; // megabytes of readable buffers (one buffer many times): not worth copying
                } else if (bytes.length >= BlockSpec.HEADER_SIZE) {
                    ByteBuffer h = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                    long sector = h.getLong(8);
                    if (h.getInt(0) == BlockSpec.T_OUT && sector >= 0 && sector <= Long.MAX_VALUE / BlockSpec.SECTOR) {
                        allowed.add(new Allowed(sector * BlockSpec.SECTOR,
                                Arrays.copyOfRange(bytes, BlockSpec.HEADER_SIZE, bytes.length)));
                    }
                }
                for (ChainView.Descriptor d : bufs) if (d.writable()) written.add(new long[] {d.addr(), d.len()});
            }
        }

        byte[] readAll(List<ChainView.Descriptor> bufs) {
            long total = bufs.stream().mapToLong(ChainView.Descriptor::len).sum();
            if (total > 4 << 20) return null;
            byte[] out = new byte[(int) total];
            int at = 0;
            for (ChainView.Descriptor d : bufs) {
                mem.slice(d.addr(), d.len()).asByteBuffer().get(out, at, (int) d.len());
                at += (int) d.len();
            }
            return out;
        }

        /** Every byte of the image is as it was, or is a byte some recorded T_OUT wrote there. */
        void checkImage() {
            byte[] now = f.image.read();
            byte[] was = f.image.original();
            if (Arrays.equals(now, was)) {
                if (verifiable) judged++;
                return;
            }
            try {
                if (!verifiable) {
                    unverifiable++;
                    return;
                }
                judged++;
                if (kind == BLOCK && device == f.blockRo) throw failure("a read-only device changed its image", null);
                for (int o = 0; o < Math.max(now.length, was.length); o++) {
                    if (o < now.length && o < was.length && now[o] == was[o]) continue;
                    if (o >= now.length) throw failure("the image shrank to " + now.length + " bytes", null);
                    if (!writtenBySomeRequest(o, now[o])) {
                        throw failure(String.format("image byte %d (sector %d) is 0x%02x, written by no T_OUT the device popped (was %s)",
                                o, o / 512, now[o], o < was.length ? String.format("0x%02x", was[o]) : "past the end"), null);
                    }
                }
            } finally {
                f.image.restore();
            }
        }

        boolean writtenBySomeRequest(long o, byte value) {
            for (Allowed a : allowed) {
                if (o >= a.offset() && o - a.offset() < a.data().length && a.data()[(int) (o - a.offset())] == value) return true;
            }
            return false;
        }

        AssertionError failure(String what, Throwable cause) {
            return new AssertionError(what + "\n  input: " + String.join("; ", log), cause);
        }

        // DeviceContext

        @Override
        public GuestMemory memory() {
            return mem;
        }

        @Override
        public long features() {
            return features;
        }

        @Override
        public DeviceQueue queue(int index) {
            return index >= 0 && index < queues.length ? queues[index] : null;
        }

        @Override
        public void used(int index) {
            queues[index].needsInterrupt();
        }

        /** The device has host work for a queue: run it now, as DeviceHarness does. */
        @Override
        public void wake(int index) {
            if (depth < 4) handle(index);
        }

        @Override
        public void configChanged() {
        }

        @Override
        public void warn(int index, String message) {
        }

        @Override
        public void close() {
            device.reset();
            if (kind == CONSOLE || kind == NET) device.close();
        }
    }

    // --- seeds ----------------------------------------------------------------------------------

    /** Writes the seed corpus: {@code java -cp TEST_CLASSPATH guestlab.fuzz.RingsFuzzTest java-core/src/test/resources} */
    public static void main(String[] args) throws Exception {
        SeedFiles.write(Path.of(args[0]), RingsFuzzTest.class, "rings", seeds());
        SeedFiles.write(Path.of(args[0]), RingsFuzzTest.class, "rings", knownBugs());
    }

    /**
     * Reproducers of the bugs known when this target was written (fixed on the main line since):
     * each fails a check above on the code that has the bug.
     */
    static Map<String, byte[]> knownBugs() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        // 0 (readable) -> 1 (writable) -> 0 again: a loop, reported as "readable after writable".
        s.put("known-loop-called-readable-after-writable", new Script(RNG, 0, 3)
                .desc(0, 0, 0, 8, DESC_F_NEXT, 1).desc(0, 1, 0x100, 8, DESC_F_WRITE | DESC_F_NEXT, 0).offer(0, 0).handle(0).bytes());
        // 0xfffffff0 is a multiple of 16 (too long a table, not a bad length).
        s.put("known-indirect-length-called-not-multiple", new Script(RNG, F_INDIRECT_DESC, 3)
                .descRaw(0, 0, ADDR_INDIRECT, 0, 0xfffffff0L, DESC_F_INDIRECT, 0).offer(0, 0).handle(0).bytes());
        return s;
    }

    /** Builds inputs in the layout {@link Run} reads. */
    static final class Script {
        final ByteCursor.Writer w = new ByteCursor.Writer();

        Script(int device, int featureBits, int... log2Sizes) {
            w.u8(device).u8(featureBits);
            for (int s : log2Sizes) w.u8(s);
        }

        /** With F_PLACED: the last queue's ring at these guest-physical addresses. */
        Script place(long desc, long avail, long used) {
            w.u32(desc).u32(avail).u32(used);
            return this;
        }

        /** Descriptor {@code i} of queue {@code q}, the address given as an offset into the data area. */
        Script desc(int q, int i, long dataOffset, long len, int flags, int next) {
            w.u8(OP_DESC).u8(q).u16(i).u8(ADDR_DATA).u32(dataOffset).u32(len).u16(flags).u16(next);
            return this;
        }

        Script descRaw(int q, int i, int mode, long raw, long len, int flags, int next) {
            w.u8(OP_DESC).u8(q).u16(i).u8(mode).u32(raw).u32(len).u16(flags).u16(next);
            return this;
        }

        Script indirect(int table, int i, long dataOffset, long len, int flags, int next) {
            w.u8(OP_INDIRECT).u8(table).u8(i).u8(ADDR_DATA).u32(dataOffset).u32(len).u16(flags).u16(next);
            return this;
        }

        Script offer(int q, int head) {
            w.u8(OP_OFFER).u8(q).u16(head);
            return this;
        }

        Script availIdx(int q, int idx) {
            w.u8(OP_AVAIL_IDX).u8(q).u16(idx);
            return this;
        }

        Script handle(int q) {
            w.u8(OP_HANDLE).u8(q);
            return this;
        }

        /** Bytes at an offset into the data area (block's pokes land there whatever the address). */
        Script poke(long dataOffset, byte[] data) {
            w.u8(OP_POKE).u32(DATA_START + dataOffset).lengthPrefixed(data);
            return this;
        }

        Script host(int what, byte[] data) {
            w.u8(OP_HOST).u8(what).lengthPrefixed(data);
            return this;
        }

        byte[] bytes() {
            return w.toByteArray();
        }
    }

    static byte[] blockHeader(int type, long sector) {
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(0).putLong(sector).array();
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        int all = F_EVENT_IDX | F_INDIRECT_DESC | F_VERSION_1;
        byte[] data = new byte[1024];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 13 + 7);
        // block: a write, a read of it, a flush, GET_ID, an unknown type; header at 0, data at 0x1000, status at 0x2000
        s.put("block-write-read-flush", new Script(BLOCK, all, 7)
                .poke(0, blockHeader(BlockSpec.T_OUT, 3)).poke(0x1000, data)
                .desc(0, 0, 0, 16, DESC_F_NEXT, 1).desc(0, 1, 0x1000, 1024, DESC_F_NEXT, 2).desc(0, 2, 0x2000, 1, DESC_F_WRITE, 0)
                .offer(0, 0).handle(0)
                .poke(0x100, blockHeader(BlockSpec.T_IN, 3))
                .desc(0, 3, 0x100, 16, DESC_F_NEXT, 4).desc(0, 4, 0x3000, 1024, DESC_F_WRITE | DESC_F_NEXT, 5).desc(0, 5, 0x2001, 1, DESC_F_WRITE, 0)
                .offer(0, 3).poke(0x200, blockHeader(BlockSpec.T_FLUSH, 0))
                .desc(0, 6, 0x200, 16, DESC_F_NEXT, 7).desc(0, 7, 0x2002, 1, DESC_F_WRITE, 0).offer(0, 6).handle(0)
                .poke(0x300, blockHeader(BlockSpec.T_GET_ID, 0))
                .desc(0, 8, 0x300, 16, DESC_F_NEXT, 9).desc(0, 9, 0x4000, 20, DESC_F_WRITE | DESC_F_NEXT, 10).desc(0, 10, 0x2003, 1, DESC_F_WRITE, 0)
                .offer(0, 8).poke(0x400, blockHeader(77, 0)).desc(0, 11, 0x400, 16, DESC_F_NEXT, 12).desc(0, 12, 0x2004, 1, DESC_F_WRITE, 0)
                .offer(0, 11).handle(0).bytes());
        s.put("block-indirect-write-tail-sector", new Script(BLOCK, all, 7)
                .poke(0, blockHeader(BlockSpec.T_OUT, IMAGE_BYTES / 512)).poke(0x1000, Arrays.copyOf(data, 512))
                .indirect(0, 0, 0, 16, DESC_F_NEXT, 1).indirect(0, 1, 0x1000, 512, DESC_F_NEXT, 2).indirect(0, 2, 0x2000, 1, DESC_F_WRITE, 0)
                .descRaw(0, 0, ADDR_INDIRECT, 0, 48, DESC_F_INDIRECT, 0).offer(0, 0).handle(0).bytes());
        s.put("block-out-of-range-and-misaligned", new Script(BLOCK, 0, 4)
                .poke(0, blockHeader(BlockSpec.T_OUT, 1L << 60)).poke(0x100, blockHeader(BlockSpec.T_OUT, 0))
                .desc(0, 0, 0, 16, DESC_F_NEXT, 1).desc(0, 1, 0x1000, 512, DESC_F_NEXT, 2).desc(0, 2, 0x2000, 1, DESC_F_WRITE, 0)
                .desc(0, 3, 0x100, 16, DESC_F_NEXT, 4).desc(0, 4, 0x1000, 100, DESC_F_NEXT, 5).desc(0, 5, 0x2001, 1, DESC_F_WRITE, 0)
                .offer(0, 0).offer(0, 3).handle(0).bytes());
        s.put("block-read-only", new Script(BLOCK, F_READ_ONLY, 4)
                .poke(0, blockHeader(BlockSpec.T_OUT, 0)).desc(0, 0, 0, 16, DESC_F_NEXT, 1).desc(0, 1, 0x1000, 512, DESC_F_NEXT, 2)
                .desc(0, 2, 0x2000, 1, DESC_F_WRITE, 0).offer(0, 0).handle(0).bytes());
        s.put("block-no-status", new Script(BLOCK, 0, 3)
                .poke(0, blockHeader(BlockSpec.T_IN, 0)).desc(0, 0, 0, 16, DESC_F_NEXT, 1).desc(0, 1, 0x1000, 512, 0, 0)
                .offer(0, 0).handle(0).bytes());
        s.put("rng-fill", new Script(RNG, F_EVENT_IDX, 6)
                .desc(0, 0, 0, 4096, DESC_F_WRITE | DESC_F_NEXT, 1).desc(0, 1, 0x2000, 100, DESC_F_WRITE, 0).offer(0, 0).handle(0)
                .desc(0, 2, 0x3000, 8, DESC_F_WRITE, 0).offer(0, 2).offer(0, 2).handle(0).bytes());
        s.put("rng-loop", new Script(RNG, 0, 3)
                .desc(0, 0, 0, 8, DESC_F_WRITE | DESC_F_NEXT, 1).desc(0, 1, 0x100, 8, DESC_F_WRITE | DESC_F_NEXT, 0).offer(0, 0).handle(0).bytes());
        s.put("console-echo", new Script(CONSOLE, all, 6, 6)
                .host(0, "hello".getBytes()).desc(0, 0, 0, 64, DESC_F_WRITE, 0).offer(0, 0).handle(0)
                .poke(0x1000, "guest says hi\n".getBytes()).desc(1, 0, 0x1000, 14, 0, 0).offer(1, 0).handle(1)
                .host(1, new byte[300]).desc(0, 1, 0x2000, 16, DESC_F_WRITE, 0).offer(0, 1).handle(0).bytes());
        byte[] frame = Run.broadcast("ping".getBytes());
        byte[] txPacket = new byte[12 + frame.length];
        System.arraycopy(frame, 0, txPacket, 12, frame.length);
        s.put("net-rx-tx", new Script(NET, all, 8, 8)
                .desc(0, 0, 0, 2048, DESC_F_WRITE, 0).offer(0, 0).host(0, frame).handle(0)
                .desc(0, 1, 0x1000, 20, DESC_F_WRITE, 0).offer(0, 1).host(1, frame)
                .poke(0x2000, txPacket).desc(1, 0, 0x2000, txPacket.length, 0, 0).offer(1, 0).handle(1)
                .host(3 | 4 * 20, frame).host(2, new byte[0]).handle(0).bytes());
        s.put("indirect-nested-and-lengths", new Script(RNG, F_INDIRECT_DESC, 4)
                .indirect(1, 0, 0, 8, DESC_F_WRITE, 0).descRaw(0, 0, ADDR_INDIRECT, IND_TABLE, 16, DESC_F_INDIRECT, 0).offer(0, 0).handle(0)
                .descRaw(0, 1, ADDR_INDIRECT, 0, 24, DESC_F_INDIRECT, 0).offer(0, 1).handle(0).bytes());
        // 0 (writable) -> 1 (readable) -> 0: readable after writable, and a loop; the device may say either.
        s.put("readable-after-writable-inside-a-loop", new Script(RNG, 0, 3)
                .desc(0, 0, 0, 8, DESC_F_WRITE | DESC_F_NEXT, 1).desc(0, 1, 0x100, 8, DESC_F_NEXT, 0).offer(0, 0).handle(0).bytes());
        s.put("avail-idx-runs-ahead", new Script(CONSOLE, 0, 2, 2).availIdx(1, 5).handle(1).bytes());
        s.put("placed-rings-overlapping", new Script(RNG, F_PLACED | F_EVENT_IDX, 4).place(0x1000, 0x1000 + 64, 0x1000 + 32)
                .desc(0, 0, 0, 64, DESC_F_WRITE, 0).offer(0, 0).handle(0).offer(0, 0).handle(0).bytes());
        return s;
    }
}

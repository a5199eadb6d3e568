package guestlab.vhostuser;

import com.code_intelligence.jazzer.junit.FuzzTest;
import guestlab.devices.BlockDevice;
import guestlab.virtio.block.BlockSpec;
import guestlab.events.EventBus;
import guestlab.events.EventKind;
import guestlab.fuzz.ByteCursor;
import guestlab.fuzz.DiskImage;
import guestlab.fuzz.ProcessCensus;
import guestlab.fuzz.SeedFiles;
import guestlab.fuzz.UncaughtExceptions;
import guestlab.posix.EventFd;
import guestlab.posix.Libc;
import guestlab.virtio.Features;
import guestlab.virtio.VringLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

import static guestlab.vhostuser.VhostUserProtocol.*;

/**
 * Fuzzes vhost-user message sequences, fds included, against a running block back-end on a real
 * unix socket: what a hostile or broken front-end (a QEMU gone wrong) can send.
 *
 * <p>The input is a sequence of up to {@value #MAX_OPS} operations (see {@link Session#run}):
 * messages whose request code comes from the known set or is raw, with fuzzer-chosen flags,
 * payload, a size field that may lie, and fds to attach (new memfds of fuzzer-chosen size, new
 * eventfds, or ones sent before); SET_MEM_TABLE built from those memfds with fuzzer-chosen
 * sizes, offsets and addresses; writes into the shared memory (ring contents); kicks; a
 * round-trip barrier; a reconnect.
 *
 * <p>After every input:
 * <ul>
 *   <li>every reply the protocol promises came within {@value #REPLY_MILLIS} ms, or the back-end
 *       closed the connection (its answer to a protocol error);
 *   <li>during the connection the back-end holds no more of the front-end's fds than it needs
 *       (8 memory regions, and a kick, a call and one retired call fd per ring);
 *   <li>the back-end never dies: a fresh connection gets its GET_FEATURES reply;
 *   <li>no exception escapes but the typed ones: no "connection failed" (an exception out of a
 *       message handler) and no "device failed" (a non-RingFault out of the device) event;
 *   <li>no fd and no guestlab thread outlives the connection;
 *   <li>the image is byte for byte unchanged. The image is opened read-only, so every write the
 *       guest asks for must be refused. This is the sound choice here: the device threads serve
 *       the rings concurrently with the messages, so the harness cannot know which chains the
 *       device saw and when; exact write accounting is {@code RingsFuzzTest}'s job, where the
 *       device runs on the fuzzer's thread.
 * </ul>
 * One back-end serves the whole run; a fresh one is built only after an input fails a check.
 */
@Timeout(20)
class VhostUserFuzzTest {
    static final int MAX_OPS = 32;
    static final long REPLY_MILLIS = 1000;
    static final int IMAGE_BYTES = 48 * 1024 + 100; // odd size: the device rounds capacity up
    static final long USER_BASE = 0x7f0000000000L;
    /** What a back-end may hold of one front-end's fds: memory regions, then kick + call + one retired call per ring. */
    static final int FD_BOUND = MAX_REGIONS + 3;

    static final int[] REQUESTS = {GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE, SET_VRING_NUM,
            SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR,
            GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE, GET_CONFIG, SET_CONFIG};
    /** Requests the back-end always answers (or drops the connection over). */
    static final Set<Integer> GETS = Set.of(GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_VRING_BASE, GET_CONFIG);
    static final long OFFERED_PROTOCOL = Features.bit(PROTOCOL_F_REPLY_ACK) | Features.bit(PROTOCOL_F_MQ)
            | Features.bit(PROTOCOL_F_CONFIG);

    static final int OP_MESSAGE = 0, OP_MEM_TABLE = 1, OP_POKE = 2, OP_KICK = 3, OP_SYNC = 4, OP_RECONNECT = 5, OPS = 6;
    static final int FD_NEW_MEMFD = 0, FD_NEW_EVENTFD = 1, FD_MEMFD = 2, FD_EVENTFD = 3;
    /** Message flag bits in the input (not the wire flags). */
    static final int NEED_REPLY = 1, REPLY_BIT = 2, SIZE_LIE = 4, BAD_VERSION = 8;

    /** A peer that closes or resets while the back-end reads or writes: the back-end's normal way out. */
    private static final Pattern PEER_WENT_AWAY = Pattern.compile(
            "vhost-user connection failed: guestlab\\.posix\\.PosixException: (recvmsg|sendmsg|socket write) failed: .*\\(errno (32|104)\\)");

    private static Fixture fixture;

    @FuzzTest(maxDuration = "10m")
    void messageSequences(byte[] input) throws Exception {
        Fixture f = fixture();
        f.poisoned = true; // until this input passes every check
        f.errors.clear();
        UncaughtExceptions.drain();
        Session s = new Session(f);
        try {
            s.run(new ByteCursor(input));
            s.checkHeldFds();
            s.close();
            f.check(s.log);
        } catch (AssertionError e) {
            throw withDeaths(e);
        } finally {
            s.close();
        }
        f.poisoned = false;
    }

    /** A failure, with what killed a guestlab thread meanwhile (the likelier cause) in front. */
    static AssertionError withDeaths(AssertionError e) {
        List<String> deaths = UncaughtExceptions.drain();
        return deaths.isEmpty() ? e : new AssertionError(deaths.getFirst() + "\n  seen as: " + e.getMessage(), e);
    }

    @AfterAll
    static void closeBackend() {
        if (fixture != null) {
            Fixture f = fixture;
            fixture = null;
            f.close();
            String grew = f.before.check(1000);
            if (grew != null) throw new AssertionError("after closing the back-end: " + grew);
        }
    }

    private static Fixture fixture() {
        if (fixture != null && fixture.poisoned) {
            fixture.close();
            fixture = null;
        }
        if (fixture == null) fixture = new Fixture();
        return fixture;
    }

    /** One block back-end on a read-only image, and what "unchanged" looks like for it. */
    private static final class Fixture implements AutoCloseable {
        final ProcessCensus.Baseline before = new ProcessCensus.Baseline(ProcessCensus::deviceKind);
        final DiskImage image = DiskImage.create("vu", IMAGE_BYTES);
        final EventBus events = new EventBus(64);
        final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        final AutoCloseable subscription;
        final BlockDevice device;
        final VhostUserBackend backend;
        final long offered;
        final ProcessCensus.Baseline census;
        volatile boolean poisoned;

        Fixture() {
            try {
                device = BlockDevice.open(image.path, true);
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
            offered = device.features() | Features.bit(F_PROTOCOL_FEATURES);
            UncaughtExceptions.install();
            subscription = events.subscribe(e -> {
                if (e.kind() == EventKind.DEVICE_ERROR || e.kind() == EventKind.HOST_WARNING) errors.add(e.kind() + " " + e.detail());
            });
            backend = new VhostUserBackend("fuzz", "blk0", device, image.sibling("vu.sock"), events);
            // The baseline is taken as each input's check is made: one fresh connection open and answered.
            try (RawFrontend fe = RawFrontend.connect(backend.socket(), REPLY_MILLIS)) {
                features(fe);
                census = new ProcessCensus.Baseline(ProcessCensus::deviceKind);
            } catch (TimeoutException e) {
                throw new IllegalStateException("a new back-end did not answer GET_FEATURES", e);
            }
        }

        long features(RawFrontend fe) throws TimeoutException {
            if (!fe.send(RawFrontend.message(GET_FEATURES, VERSION, 0, new byte[0]), new int[0])) return -1;
            RawFrontend.Reply r = fe.reply("GET_FEATURES");
            return r == null ? -1 : r.u64(0);
        }

        /** The checks every input must pass once its connection has gone. */
        void check(List<String> log) {
            try (RawFrontend fe = RawFrontend.connect(backend.socket(), REPLY_MILLIS)) {
                long got = features(fe);
                if (got != offered) {
                    fail(got == -1 ? "the back-end closed a fresh connection without answering GET_FEATURES"
                            : String.format("a fresh connection got features 0x%x, not 0x%x", got, offered), log);
                }
                // The reply also means the old connection is fully torn down: one thread serves them in turn.
                for (String e : errors) {
                    boolean untyped = (e.contains("vhost-user connection failed: ") && !PEER_WENT_AWAY.matcher(e).find())
                            || e.contains(": device failed: ") || e.startsWith("HOST_WARNING accept on ");
                    if (untyped) fail("an exception other than the typed ones escaped: " + e, log);
                }
                String grew = census.check(500);
                if (grew != null) fail("leaked past the connection: " + grew, log);
            } catch (TimeoutException e) {
                fail("the back-end is dead: a fresh connection got no GET_FEATURES reply within " + REPLY_MILLIS + " ms", log);
            } catch (IllegalStateException e) {
                fail("the back-end is dead: " + e.getMessage(), log);
            }
            if (!image.unchanged()) {
                image.restore();
                fail("the read-only image changed", log);
            }
        }

        @Override
        public void close() {
            try {
                subscription.close();
            } catch (Exception ignored) {
                // unsubscribing cannot fail
            }
            try {
                backend.close();
            } catch (RuntimeException e) {
                // a back-end that a failed input left stuck: its thread is a daemon, let it go
            }
            device.close();
            image.close();
        }
    }

    static void fail(String what, List<String> log) {
        throw new AssertionError(what + "\n  sequence: " + String.join(", ", log));
    }

    /** A memfd the harness made (and maps, to write ring contents into it). */
    /** A memfd the front-end shares, and its mapping here (owned by {@code arena}). */
    private record Memfd(int fd, long size, MemorySegment mapping, java.lang.foreign.Arena arena) {}

    /** One input's connection and the fds the harness made for it. */
    private static final class Session implements AutoCloseable {
        final Fixture f;
        final List<String> log = new ArrayList<>();
        final List<Memfd> memfds = new ArrayList<>();
        final List<EventFd> eventfds = new ArrayList<>();
        RawFrontend fe;
        boolean connected = true;
        boolean desync;     // a size field lied: message boundaries are the back-end's guess now
        boolean replyAck;   // REPLY_ACK negotiated on this connection, as the back-end sees it

        Session(Fixture f) {
            this.f = f;
            this.fe = RawFrontend.connect(f.backend.socket(), REPLY_MILLIS);
        }

        void run(ByteCursor c) throws Exception {
            for (int ops = 0; ops < MAX_OPS && !c.done(); ops++) {
                switch (c.u8() % OPS) {
                    case OP_MESSAGE -> message(c);
                    case OP_MEM_TABLE -> memTable(c);
                    case OP_POKE -> poke(c);
                    case OP_KICK -> kick(c);
                    case OP_SYNC -> sync();
                    default -> reconnect();
                }
            }
        }

        /** request selector, flag bits, fds, u16-prefixed payload, [signed size-field delta] */
        void message(ByteCursor c) throws Exception {
            int sel = c.u8();
            int request = sel == 0xff ? (int) c.u32() : REQUESTS[sel % REQUESTS.length];
            int fb = c.u8();
            int[] fds = fds(c);
            byte[] payload = c.lengthPrefixed(MAX_PAYLOAD + 64);
            int size = payload.length + ((fb & SIZE_LIE) != 0 ? (byte) c.u8() : 0);
            send(request, fb, size, payload, fds);
        }

        /** regions (0-9), flag bits, then per region: memfd, gpa/64K, size/offset modes and values. */
        void memTable(ByteCursor c) throws Exception {
            int n = c.u8() % 10;
            int fb = c.u8();
            ByteBuffer p = ByteBuffer.allocate(8 + 32 * n).order(ByteOrder.LITTLE_ENDIAN).putInt(n).putInt(0);
            int[] fds = new int[n];
            for (int i = 0; i < n; i++) {
                Memfd m = memfd(c, c.u8() % 2 == 0);
                long gpa = c.u16() * 0x10000L;
                int mode = c.u8();
                long offset = switch ((mode >> 2) & 3) {
                    case 0 -> 0;
                    case 1 -> c.u16() * 4096L;
                    case 2 -> c.u16();
                    default -> c.u64();
                };
                long size = switch (mode & 3) {
                    case 0 -> m.size() - offset > 0 ? m.size() - offset : m.size();
                    case 1 -> m.size() + c.u16() * 4096L; // past the end of the memfd
                    case 2 -> c.u32();
                    default -> c.u64();
                };
                long uaddr = (mode & 0x10) != 0 ? c.u64() : USER_BASE + gpa;
                p.putLong(gpa).putLong(size).putLong(uaddr).putLong(offset);
                fds[i] = m.fd();
            }
            if ((fb & 0x10) != 0 && n > 0) fds = java.util.Arrays.copyOf(fds, n - 1); // one fd short
            send(SET_MEM_TABLE, fb, p.capacity(), p.array(), fds);
        }

        /** memfd index, u32 offset, u16-prefixed bytes: what a guest writes into its rings and buffers. */
        void poke(ByteCursor c) {
            int k = c.u8();
            long offset = c.u32();
            byte[] data = c.lengthPrefixed(1024);
            if (memfds.isEmpty()) return;
            Memfd m = memfds.get(k % memfds.size());
            if (m.mapping() == null) return;
            long at = offset % m.size(); // never past the end of the file: that would be a SIGBUS here
            int len = (int) Math.min(data.length, m.size() - at);
            MemorySegment.copy(data, 0, m.mapping(), ValueLayout.JAVA_BYTE, at, len);
            log.add("poke " + len + "@0x" + Long.toHexString(at));
        }

        void kick(ByteCursor c) {
            int k = c.u8();
            if (eventfds.isEmpty()) return;
            eventfds.get(k % eventfds.size()).signal();
            log.add("kick " + k % eventfds.size());
        }

        /** A round trip: everything sent before it has been handled. */
        void sync() throws Exception {
            send(GET_QUEUE_NUM, 0, 0, new byte[0], new int[0]);
        }

        void reconnect() {
            fe.close();
            fe = RawFrontend.connect(f.backend.socket(), REPLY_MILLIS);
            connected = true;
            desync = false;
            replyAck = false;
            log.add("reconnect");
        }

        int[] fds(ByteCursor c) {
            int n = c.u8() % 10; // one more than a message may carry
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                int kind = c.u8() % 4;
                out[i] = switch (kind) {
                    case FD_NEW_MEMFD -> memfd(c, true).fd();
                    case FD_MEMFD -> memfd(c, false).fd();
                    case FD_NEW_EVENTFD -> eventfd(c, true).fd();
                    default -> eventfd(c, false).fd();
                };
            }
            return out;
        }

        /** A new memfd (u16 size: high bit set = that many bytes, else pages mod 257), or an earlier one (u8 index). */
        Memfd memfd(ByteCursor c, boolean fresh) {
            if (!fresh && !memfds.isEmpty()) return memfds.get(c.u8() % memfds.size());
            int spec = fresh ? c.u16() : 1;
            long size = (spec & 0x8000) != 0 ? spec & 0x7fff : (spec % 257) * 4096L;
            int fd = Libc.memfdCreate("guestlab-fuzz-ram");
            java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();
            MemorySegment mapping = null;
            try {
                Libc.ftruncate(fd, size);
                if (size > 0) mapping = Libc.mmapShared(fd, (size + 4095) & ~4095L, 0, arena);
            } catch (RuntimeException e) {
                arena.close();
                Libc.close(fd);
                throw e;
            }
            Memfd m = new Memfd(fd, size, mapping, arena);
            memfds.add(m);
            return m;
        }

        EventFd eventfd(ByteCursor c, boolean fresh) {
            if (!fresh && !eventfds.isEmpty()) return eventfds.get(c.u8() % eventfds.size());
            EventFd e = EventFd.create();
            eventfds.add(e);
            return e;
        }

        void send(int request, int fb, int size, byte[] payload, int[] fds) throws Exception {
            boolean needReply = (fb & NEED_REPLY) != 0;
            int version = (fb & BAD_VERSION) != 0 ? (fb >> 4) & 3 : VERSION;
            int flags = version | ((fb & REPLY_BIT) != 0 ? FLAG_REPLY : 0) | (needReply ? FLAG_NEED_REPLY : 0);
            log.add(name(request) + (needReply ? "+ack" : "") + "(" + payload.length + "b" + (size != payload.length ? ", size " + size : "")
                    + (version != VERSION ? ", version " + version : "") + (fds.length > 0 ? ", " + fds.length + " fds" : "") + ")"
                    + (connected ? "" : " [not sent: disconnected]"));
            if (!connected) return;
            if (!fe.send(RawFrontend.message(request, flags, size, payload), fds)) {
                connected = false;
                return;
            }
            if (size != payload.length) desync = true;
            if (desync || version != VERSION || size > MAX_PAYLOAD) return; // the back-end drops us, or waits for bytes that follow
            // What the back-end's state will be when it decides whether to acknowledge.
            if (request == SET_PROTOCOL_FEATURES && payload.length >= 8) {
                replyAck = (ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getLong(0) & OFFERED_PROTOCOL
                        & Features.bit(PROTOCOL_F_REPLY_ACK)) != 0;
            }
            if (request == RESET_OWNER) replyAck = false;
            if (GETS.contains(request) || (needReply && replyAck)) awaitReply(request);
        }

        void awaitReply(int request) {
            try {
                for (int i = 0; i < 4; i++) {
                    RawFrontend.Reply r = fe.reply(name(request));
                    if (r == null) {
                        connected = false; // dropped: a protocol error (the events say whether a typed one)
                        log.add("(closed by the back-end)");
                        return;
                    }
                    if (r.request() == request) return;
                    log.add("(unexpected reply to " + name(r.request()) + ")");
                }
                fail("the back-end answers other requests than " + name(request), log);
            } catch (TimeoutException e) {
                fail("no reply to " + name(request) + " within " + REPLY_MILLIS + " ms", log);
            }
        }

        /** While connected, the back-end holds only the fds it needs (a retired call fd per ring at most). */
        void checkHeldFds() throws Exception {
            if (!connected || desync) return;
            sync();
            if (!connected) return;
            Map<String, Integer> now = ProcessCensus.fdKinds(VhostUserFuzzTest::frontendKind);
            Map<String, Integer> base = new LinkedHashMap<>();
            f.census.fds().forEach((k, v) -> {
                if (frontendKind(k)) base.put(k, v);
            });
            int held = now.values().stream().mapToInt(Integer::intValue).sum() - base.values().stream().mapToInt(Integer::intValue).sum()
                    - memfds.size() - eventfds.size();
            if (held > FD_BOUND) {
                fail("the back-end holds " + held + " of this front-end's memfds and eventfds (it needs at most " + FD_BOUND + ")", log);
            }
        }

        /** Idempotent: the input's check runs after it, and the finally block calls it again. */
        @Override
        public void close() {
            fe.close();
            for (Memfd m : memfds) {
                m.arena().close();
                Libc.close(m.fd());
            }
            memfds.clear();
            eventfds.forEach(EventFd::close);
            eventfds.clear();
        }
    }

    /** The fd kinds a front-end hands over: the harness's memfds and eventfds. */
    static boolean frontendKind(String target) {
        return target.equals("anon_inode:[eventfd]") || target.startsWith("/memfd:guestlab-fuzz-ram");
    }

    // --- seeds ----------------------------------------------------------------------------------

    /** Writes the seed corpus: {@code java -cp TEST_CLASSPATH guestlab.vhostuser.VhostUserFuzzTest java-core/src/test/resources} */
    public static void main(String[] args) throws Exception {
        SeedFiles.write(Path.of(args[0]), VhostUserFuzzTest.class, "messageSequences", seeds());
        SeedFiles.write(Path.of(args[0]), VhostUserFuzzTest.class, "messageSequences", knownBugs());
    }

    /** Ring 0 of the seeds: 128 entries at guest-physical 0x1000 of one 64-page region at USER_BASE. */
    static final VringLayout RING = VringLayout.contiguous(128, 0x1000, 4096);
    static final long HDR = 0x10000, DATA = 0x11000, STATUS = 0x12000;

    /** Builds inputs in the layout {@link Session#run} reads. */
    static final class Script {
        final ByteCursor.Writer w = new ByteCursor.Writer();

        Script msg(int request, int fb, byte[] payload, byte[]... fds) {
            w.u8(OP_MESSAGE).u8(indexOf(request)).u8(fb).u8(fds.length);
            for (byte[] fd : fds) w.bytes(fd);
            w.lengthPrefixed(payload);
            return this;
        }

        Script raw(long request, int fb, byte[] payload) {
            w.u8(OP_MESSAGE).u8(0xff).u32(request).u8(fb).u8(0).lengthPrefixed(payload);
            return this;
        }

        Script msg(int request, byte[] payload, byte[]... fds) {
            return msg(request, 0, payload, fds);
        }

        /** One region: a new memfd of {@code pages} at guest-physical 0, user address USER_BASE; {@code extraPages} past its end. */
        Script memTable(int pages, int extraPages) {
            w.u8(OP_MEM_TABLE).u8(1).u8(0).u8(0).u16(pages).u16(0).u8(extraPages > 0 ? 1 : 0);
            if (extraPages > 0) w.u16(extraPages);
            return this;
        }

        Script poke(long offset, byte[] data) {
            w.u8(OP_POKE).u8(0).u32(offset).lengthPrefixed(data);
            return this;
        }

        Script kick(int eventfd) {
            w.u8(OP_KICK).u8(eventfd);
            return this;
        }

        Script sync() {
            w.u8(OP_SYNC);
            return this;
        }

        Script reconnect() {
            w.u8(OP_RECONNECT);
            return this;
        }

        /** GET_FEATURES, GET/SET_PROTOCOL_FEATURES (all offered), SET_FEATURES (all offered but RO), SET_OWNER. */
        Script handshake(boolean protocolFeatures) {
            msg(GET_FEATURES, new byte[0]);
            if (protocolFeatures) {
                msg(GET_PROTOCOL_FEATURES, new byte[0]);
                msg(SET_PROTOCOL_FEATURES, u64(OFFERED_PROTOCOL));
            }
            long features = Features.RING_COMMON | (protocolFeatures ? Features.bit(F_PROTOCOL_FEATURES) : 0);
            msg(SET_FEATURES, u64(features));
            return msg(SET_OWNER, new byte[0]);
        }

        /** Ring 0 as QEMU sets it up: num, base, addresses, call (eventfd 0), kick (eventfd 1), enable. */
        Script ring(int num) {
            msg(SET_VRING_NUM, state(0, num));
            msg(SET_VRING_BASE, state(0, 0));
            msg(SET_VRING_ADDR, addr(0, USER_BASE + RING.desc(), USER_BASE + RING.used(), USER_BASE + RING.avail()));
            msg(SET_VRING_CALL, u64(0), newEventfd());
            msg(SET_VRING_KICK, u64(0), newEventfd());
            return msg(SET_VRING_ENABLE, state(0, 1));
        }

        /** A block request in descriptors 0-2 (header, data, status), offered at avail slot {@code slot}, then a kick. */
        Script request(int type, long sector, int dataLen, boolean dataWritable, int slot) {
            ByteBuffer hdr = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(0).putLong(sector);
            poke(HDR, hdr.array());
            int dataFlags = (dataWritable ? VringLayout.DESC_F_WRITE : 0) | VringLayout.DESC_F_NEXT;
            poke(RING.desc(), descs(new long[][] {{HDR, 16, VringLayout.DESC_F_NEXT, 1}, {DATA, dataLen, dataFlags, 2},
                    {STATUS, 1, VringLayout.DESC_F_WRITE, 0}}));
            poke(RING.availSlot(slot), new byte[2]);
            poke(RING.availIdx(), new byte[] {(byte) (slot + 1), 0});
            return kick(1).sync();
        }

        byte[] bytes() {
            return w.toByteArray();
        }
    }

    /**
     * Reproducers of the bugs known when these targets were written (fixed on the main line
     * since): each fails a check above on the code that has the bug.
     */
    static Map<String, byte[]> knownBugs() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        // A region reaching 16 pages past the end of its 1-page memfd; the ring lies out there:
        // starting it touches unbacked pages (SIGBUS, an InternalError that killed the serving thread).
        s.put("known-region-past-end-of-memfd", new Script().handshake(true).memTable(1, 16)
                .msg(SET_VRING_NUM, state(0, 64))
                .msg(SET_VRING_ADDR, addr(0, USER_BASE + 0x8000, USER_BASE + 0xa000, USER_BASE + 0x9000))
                .msg(SET_VRING_CALL, u64(0), newEventfd()).msg(SET_VRING_KICK, u64(0), newEventfd())
                .msg(SET_VRING_ENABLE, state(0, 1)).sync().bytes());
        // offset + size overflows int: the check passed and the back-end built a 2 GB reply.
        s.put("known-get-config-size-overflow", new Script().handshake(true)
                .msg(GET_CONFIG, config(0x10, 0x7ffffff0, new byte[0])).bytes());
        // mmap of a 0-byte region fails; the fd was closed by MappedRegions and again by the handler.
        ByteBuffer region = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN).putInt(1).putInt(0)
                .putLong(0).putLong(0).putLong(USER_BASE).putLong(0);
        s.put("known-failed-mem-table-double-close", new Script().handshake(true)
                .msg(SET_MEM_TABLE, region.array(), newMemfd(4)).sync().bytes());
        // Every SET_VRING_CALL kept the previous call fd until the front-end went away.
        Script calls = new Script().handshake(true);
        for (int i = 0; i < 14; i++) calls.msg(SET_VRING_CALL, u64(0), newEventfd());
        s.put("known-vring-call-fds-pile-up", calls.bytes());
        return s;
    }

    static int indexOf(int request) {
        for (int i = 0; i < REQUESTS.length; i++) if (REQUESTS[i] == request) return i;
        throw new IllegalArgumentException("not a known request: " + request);
    }

    static byte[] newMemfd(int pages) {
        return new ByteCursor.Writer().u8(FD_NEW_MEMFD).u16(pages).toByteArray();
    }

    static byte[] newEventfd() {
        return new byte[] {FD_NEW_EVENTFD};
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static byte[] state(int index, int num) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(num).array();
    }

    static byte[] addr(int index, long desc, long used, long avail) {
        return ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(0)
                .putLong(desc).putLong(used).putLong(avail).putLong(0).array();
    }

    static byte[] config(int offset, int size, byte[] data) {
        return ByteBuffer.allocate(12 + data.length).order(ByteOrder.LITTLE_ENDIAN).putInt(offset).putInt(size).putInt(0)
                .put(data).array();
    }

    /** Descriptor table entries {addr, len, flags, next}, in order (see {@link VringLayout}). */
    static byte[] descs(long[][] d) {
        ByteBuffer b = ByteBuffer.allocate(VringLayout.DESC_SIZE * d.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long[] e : d) b.putLong(e[0]).putInt((int) e[1]).putShort((short) e[2]).putShort((short) e[3]);
        return b.array();
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("handshake", new Script().handshake(true).msg(GET_QUEUE_NUM, new byte[0])
                .msg(GET_CONFIG, config(0, BlockSpec.CONFIG_SIZE, new byte[BlockSpec.CONFIG_SIZE])).bytes());
        s.put("read-sector", new Script().handshake(true).memTable(64, 0).ring(128)
                .request(BlockSpec.T_IN, 1, 512, true, 0).msg(GET_VRING_BASE, state(0, 0)).bytes());
        s.put("write-refused-read-only", new Script().handshake(true).memTable(64, 0).ring(128)
                .request(BlockSpec.T_OUT, 2, 1024, false, 0).bytes());
        s.put("flush-get-id-unknown", new Script().handshake(true).memTable(64, 0).ring(128)
                .request(BlockSpec.T_FLUSH, 0, 0, false, 0).request(BlockSpec.T_GET_ID, 0, 20, true, 1)
                .request(99, 0, 0, false, 2).bytes());
        s.put("legacy-no-protocol-features", new Script().handshake(false).memTable(64, 0)
                .msg(SET_VRING_NUM, state(0, 64)).msg(SET_VRING_ADDR, addr(0, USER_BASE + 0x1000, USER_BASE + 0x2000, USER_BASE + 0x1400))
                .msg(SET_VRING_KICK, u64(0), newEventfd()).msg(SET_VRING_CALL, u64(0x100)).kick(0).sync().bytes());
        s.put("acks-and-unknown-requests", new Script().handshake(true).msg(SET_OWNER, NEED_REPLY, new byte[0])
                .raw(40, NEED_REPLY, u64(1)).raw(40, 0, new byte[0]).msg(SET_VRING_ERR, u64(0), newEventfd())
                .msg(SET_CONFIG, NEED_REPLY, config(0, 8, new byte[8])).msg(GET_VRING_BASE, state(0, 0)).bytes());
        s.put("remap-running-ring", new Script().handshake(true).memTable(64, 0).ring(64).memTable(32, 0)
                .request(BlockSpec.T_IN, 0, 512, true, 0).msg(RESET_OWNER, new byte[0]).bytes());
        s.put("reconnect-mid-ring", new Script().handshake(true).memTable(64, 0).ring(128).kick(1).reconnect()
                .handshake(true).msg(GET_VRING_BASE, state(0, 0)).bytes());
        s.put("protocol-errors", new Script().handshake(true).msg(SET_VRING_NUM, state(0, 100)).reconnect()
                .msg(SET_MEM_TABLE, new byte[8 + 32]).reconnect().msg(GET_FEATURES, BAD_VERSION, new byte[0]).bytes());
        return s;
    }
}

package guestlab.events;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static guestlab.events.EventKind.HOST_WARNING;
import static guestlab.events.EventKind.REQUEST;
import static org.junit.jupiter.api.Assertions.*;

/** A subscriber that throws is counted and reported once; the publisher and the other subscribers carry on. */
class EventBusTest {
    private final EventBus bus = new EventBus(16);

    private static Event request(int i) {
        return new Event(i, "g1", "rng0", 0, REQUEST, i, 0, 8, -1, "");
    }

    private List<Event> warnings() {
        return bus.recent().stream().filter(e -> e.kind() == HOST_WARNING).toList();
    }

    @SuppressWarnings("unchecked")
    private static <E extends Throwable> void sneak(Throwable t) throws E {
        throw (E) t; // what a Clojure fn does with a checked exception
    }

    @Test
    void aFailingSubscriberIsCountedReportedOnceAndKeepsGettingEvents() {
        List<Event> failingHeard = new CopyOnWriteArrayList<>(), goodHeard = new CopyOnWriteArrayList<>();
        Subscription failing = bus.subscribe(e -> {
            failingHeard.add(e);
            throw new IllegalStateException("subscriber bug");
        });
        Subscription good = bus.subscribe(goodHeard::add);

        for (int i = 0; i < 3; i++) bus.publish(request(i));

        assertEquals(3, failing.failures());
        assertEquals(0, good.failures());
        assertEquals(3, failingHeard.size(), "still delivered to, but never its own report");
        // The failing subscriber comes first: its report reaches the other before the first request does.
        assertEquals(List.of(HOST_WARNING, REQUEST, REQUEST, REQUEST), goodHeard.stream().map(Event::kind).toList());
        Event report = warnings().getFirst();
        assertEquals(1, warnings().size(), "reported once, not per event");
        assertEquals("g1", report.guest());
        assertTrue(report.detail().contains("java.lang.IllegalStateException: subscriber bug"), report.detail());
        assertTrue(report.detail().contains("on REQUEST"), report.detail());

        failing.close();
        bus.publish(request(3));
        assertEquals(3, failing.failures(), "closing unsubscribes");
    }

    @Test
    void twoFailingSubscribersAreEachReportedOnceAndNeverToThemselves() {
        List<Event> firstHeard = new CopyOnWriteArrayList<>(), secondHeard = new CopyOnWriteArrayList<>();
        Subscription first = bus.subscribe(e -> {
            firstHeard.add(e);
            throw new IllegalStateException("first");
        });
        Subscription second = bus.subscribe(e -> {
            secondHeard.add(e);
            throw new IllegalStateException("second");
        });

        bus.publish(request(0));

        // first fails on the request; second fails first on first's report, and first then
        // fails on second's report (counted, not reported again); second fails on the request.
        assertEquals(2, first.failures());
        assertEquals(2, second.failures());
        assertEquals(List.of(REQUEST, HOST_WARNING), firstHeard.stream().map(Event::kind).toList());
        assertTrue(firstHeard.get(1).detail().contains("second"), firstHeard.get(1).detail());
        assertEquals(List.of(HOST_WARNING, REQUEST), secondHeard.stream().map(Event::kind).toList());
        assertTrue(secondHeard.getFirst().detail().contains("first"), secondHeard.getFirst().detail());
        assertEquals(2, warnings().size());
    }

    @Test
    void eventsPublishedByTheirFieldsAreKeptInOrderWithTheOthersAndTheOldestGoFirst() {
        Event note = Event.note("g1", "", -1, EventKind.LIFECYCLE, "started");
        bus.publish(note);
        for (int i = 0; i < 20; i++) bus.publish(i, "g1", "blk0", 1, EventKind.COMPLETION, i, i % 4, 512, 7, "");
        List<Event> kept = bus.recent();
        assertEquals(16, kept.size(), "the last 16: the note and the first four completions are gone");
        assertEquals(new Event(4, "g1", "blk0", 1, EventKind.COMPLETION, 4, 0, 512, 7, ""), kept.getFirst());
        assertEquals(new Event(19, "g1", "blk0", 1, EventKind.COMPLETION, 19, 3, 512, 7, ""), kept.getLast());
        bus.publish(note);
        assertSame(note, bus.recent().getLast(), "an event published whole is kept whole");
    }

    @Test
    void aSubscriberGetsTheKindsItAskedForAndRingEventsAreMadeForItOnlyThen() {
        List<Event> warnings = new CopyOnWriteArrayList<>(), everything = new CopyOnWriteArrayList<>();
        bus.subscribe(java.util.EnumSet.of(HOST_WARNING), warnings::add);
        bus.publish(1, "g1", "blk0", 0, EventKind.KICK, 1, -1, -1, -1, "");
        bus.publish(Event.note("g1", "blk0", 0, HOST_WARNING, "slow disk"));
        assertEquals(List.of("slow disk"), warnings.stream().map(Event::detail).toList());

        Subscription all = bus.subscribe(everything::add);
        bus.publish(2, "g1", "blk0", 0, EventKind.INTERRUPT, 5, -1, -1, -1, "call fd");
        assertEquals(List.of(new Event(2, "g1", "blk0", 0, EventKind.INTERRUPT, 5, -1, -1, -1, "call fd")), everything);
        assertSame(everything.getFirst(), bus.recent().getLast(), "the event made for the subscriber is the one kept");
        all.close();
        bus.publish(3, "g1", "blk0", 0, EventKind.KICK, 2, -1, -1, -1, "");
        assertEquals(1, everything.size(), "unsubscribed");
        assertEquals(EventKind.KICK, bus.recent().getLast().kind());
    }

    @Test
    void devicesPublishingAtOnceKeepWholeEvents() throws InterruptedException {
        EventBus shared = new EventBus(1000);
        List<Thread> devices = new java.util.ArrayList<>();
        for (int d = 0; d < 4; d++) {
            String name = "blk" + d;
            int queue = d;
            devices.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 20_000; i++) shared.publish(i, "g1", name, queue, EventKind.REQUEST, i, i % 128, 2L * i, -1, name);
            }));
        }
        for (Thread t : devices) t.join();
        List<Event> kept = shared.recent();
        assertEquals(1000, kept.size());
        for (Event e : kept) {
            assertEquals("blk" + e.queue(), e.device(), e.toString());
            assertEquals(e.device(), e.detail(), e.toString());
            assertEquals(2 * e.index(), e.length(), e.toString());
            assertEquals(e.index() % 128, e.head(), e.toString());
        }
        for (int d = 0; d < 4; d++) {
            int queue = d;
            List<Long> mine = kept.stream().filter(e -> e.queue() == queue).map(Event::index).toList();
            assertEquals(mine.stream().sorted().toList(), mine, "each device's events in the order it published them");
        }
    }

    @Test
    void checkedExceptionsAndErrorsFromASubscriberNeverReachThePublisher() {
        Subscription checked = bus.subscribe(e -> sneak(new IOException("disk full")));
        Subscription assertion = bus.subscribe(e -> {
            throw new AssertionError("a test's subscriber");
        });

        assertDoesNotThrow(() -> bus.publish(request(0)));
        assertDoesNotThrow(() -> bus.publish(request(1)));

        // Two requests each, and one report of the other's first failure each.
        assertEquals(3, checked.failures());
        assertEquals(3, assertion.failures());
        assertEquals(2, warnings().size());
        assertTrue(warnings().stream().anyMatch(w -> w.detail().contains("java.io.IOException: disk full")), warnings().toString());
        assertTrue(warnings().stream().anyMatch(w -> w.detail().contains("AssertionError: a test's subscriber")), warnings().toString());
    }
}

package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.Closeable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.Test;

public class SwitcherTest {
    /** A fake session: which entry, whether it is closed. */
    static final class FakeSession implements Closeable {
        final String name;
        boolean closed;

        FakeSession(String name) {
            this.name = name;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** A clock that advances only when told to. */
    static final class FakeClock implements Switcher.Clock {
        long now = 1000000000L;

        @Override
        public long nanos() {
            return now;
        }

        void advanceMs(double ms) {
            now += (long) (ms * 1e6);
        }
    }

    static final class FakeLoader implements Switcher.Loader<FakeSession>, Switcher.Warmup<FakeSession> {
        final FakeClock clock;
        final List<FakeSession> made = new ArrayList<FakeSession>();
        String failOn;

        FakeLoader(FakeClock clock) {
            this.clock = clock;
        }

        @Override
        public FakeSession load(BundleIndex.Entry entry) {
            if (entry.name.equals(failOn)) {
                throw new IllegalStateException("cannot load " + entry.name);
            }
            clock.advanceMs(100);  // session creation
            FakeSession s = new FakeSession(entry.name);
            made.add(s);
            return s;
        }

        @Override
        public void run(FakeSession model) {
            clock.advanceMs(7);  // warm-up run
        }
    }

    static BundleIndex index() throws Exception {
        return BundleIndex.parse(BundleFixture.index(false), "bundle.json");
    }

    @Test
    public void createsOnDemandKeepsThePreviousAndLogsEverySwitch() throws Exception {
        FakeClock clock = new FakeClock();
        FakeLoader loader = new FakeLoader(clock);
        Switcher<FakeSession> sw = new Switcher<FakeSession>(index(), loader, loader, 2, clock);
        assertEquals(-1, sw.currentEntry());
        assertNull(sw.current());

        SwitchLog.Event e = sw.switchTo(0, "start");
        assertNull(e.from);
        assertEquals("w1_d1", e.to);
        assertFalse(e.reused);
        assertEquals(100.0, e.createMs, 1e-9);
        assertEquals(7.0, e.warmupMs, 1e-9);
        assertEquals(107.0, e.totalMs(), 1e-9);
        assertEquals(0.0, e.atMs, 1e-9);
        assertNull(sw.switchTo(0, "again"));  // already running: nothing happens

        clock.advanceMs(1000);
        e = sw.switchTo(2, "manual");
        assertEquals("w1_d1", e.from);
        assertEquals("w0.25_d0.5", e.to);
        assertEquals(1107.0, e.atMs, 1e-9);
        assertEquals(2, sw.openCount());

        e = sw.switchTo(0, "back");  // kept open: no session created, nothing closed
        assertTrue(e.reused);
        assertEquals(0.0, e.totalMs(), 0);
        assertEquals(2, loader.made.size());
        assertSame(loader.made.get(0), sw.current());

        sw.switchTo(1, "third");  // evicts the least recently used (w0.25_d0.5), never the running one
        assertTrue(loader.made.get(1).closed);
        assertFalse(loader.made.get(0).closed);
        assertEquals(2, sw.openCount());
        assertEquals(4, sw.log().count());
        assertEquals("third", sw.log().last().reason);

        Map<String, Object> m = sw.log().toMap();
        assertEquals(4, m.get("count"));
        assertEquals(3.0, ((Number) ((Map<?, ?>) m.get("created_total_ms")).get("count")).doubleValue(), 0);
        assertEquals(1.0, ((Number) ((Map<?, ?>) m.get("reused_total_ms")).get("count")).doubleValue(), 0);
        assertEquals("kept", ((Map<?, ?>) ((List<?>) m.get("events")).get(2)).get("session"));

        sw.close();
        for (FakeSession s : loader.made) {
            assertTrue(s.name, s.closed);
        }
        assertEquals(0, sw.openCount());
    }

    @Test
    public void keepOneNeverHoldsTwoSessions() throws Exception {
        FakeClock clock = new FakeClock();
        FakeLoader loader = new FakeLoader(clock);
        Switcher<FakeSession> sw = new Switcher<FakeSession>(index(), loader, null, 1, clock);
        sw.switchTo(0, "a");
        SwitchLog.Event e = sw.switchTo(1, "b");
        assertEquals(0.0, e.warmupMs, 0);  // no warm-up given
        assertTrue(loader.made.get(0).closed);
        assertFalse(sw.switchTo(0, "c").reused);
        assertEquals(1, sw.openCount());
    }

    @Test
    public void aFailedLoadLeavesThePreviousEntryRunning() throws Exception {
        FakeClock clock = new FakeClock();
        FakeLoader loader = new FakeLoader(clock);
        Switcher<FakeSession> sw = new Switcher<FakeSession>(index(), loader, loader, 2, clock);
        sw.switchTo(0, "a");
        loader.failOn = "w0.5_d1";
        try {
            sw.switchTo(1, "b");
            fail();
        } catch (IllegalStateException expected) {
            assertTrue(expected.getMessage().contains("w0.5_d1"));
        }
        assertEquals(0, sw.currentEntry());
        assertFalse(sw.current().closed);
        assertEquals(1, sw.log().count());
        try {
            sw.switchTo(3, "x");
            fail();
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("no entry 3"));
        }
        try {
            new Switcher<FakeSession>(index(), loader, loader, 0, clock);
            fail();
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("keep"));
        }
    }

    @Test
    public void aLongSessionKeepsTheFirstEventsForTheFileAndCountsAll() {
        SwitchLog log = new SwitchLog(0L);
        for (int i = 0; i < SwitchLog.MAX_EVENTS + 10; i++) {
            boolean kept = i % 2 == 0;
            log.add(i * 1000000L, "a", "b", "r" + i, kept, kept ? 0 : 1.0, kept ? 0 : 2.0);
        }
        assertEquals(SwitchLog.MAX_EVENTS + 10, log.count());
        assertEquals(SwitchLog.MAX_EVENTS, log.events().size());
        assertEquals("r" + (SwitchLog.MAX_EVENTS + 9), log.last().reason);  // the screen still sees the latest
        Map<String, Object> m = log.toMap();
        assertEquals(SwitchLog.MAX_EVENTS, m.get("kept_in_file"));
        assertEquals(3.0, ((Number) ((Map<?, ?>) m.get("created_total_ms")).get("median")).doubleValue(), 0);
        assertEquals(0.0, ((Number) ((Map<?, ?>) m.get("reused_total_ms")).get("median")).doubleValue(), 0);
    }
}

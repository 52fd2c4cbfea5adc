package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.Test;

/** Auto mode end to end over the fixture bundle, with fake sessions whose latency the test controls. */
public class AutoModeTest {
    /** Latency of each entry when the phone is idle; the load factor multiplies it. */
    private static final double[] IDLE_MS = {20.0, 10.0, 3.0};

    private static final class Phone implements AutoMode.Probe<SwitcherTest.FakeSession> {
        double load = 1.0;
        int runs;

        @Override
        public double runMillis(SwitcherTest.FakeSession model) {
            runs++;
            return IDLE_MS[Arrays.asList(BundleFixture.NAMES).indexOf(model.name)] * load;
        }
    }

    private static Switcher<SwitcherTest.FakeSession> switcher() throws Exception {
        SwitcherTest.FakeClock clock = new SwitcherTest.FakeClock();
        SwitcherTest.FakeLoader loader = new SwitcherTest.FakeLoader(clock);
        return new Switcher<SwitcherTest.FakeSession>(SwitcherTest.index(), loader, loader, 2, clock);
    }

    @Test
    public void measuresAtStartRunsTheLargestThatFitsStepsDownUnderLoadAndBackUp() throws Exception {
        Switcher<SwitcherTest.FakeSession> sw = switcher();
        Phone phone = new Phone();
        double[] p50 = AutoMode.measure(sw, phone, 3, null);
        assertEquals(9, phone.runs);
        assertEquals(IDLE_MS[0], p50[0], 0);
        assertEquals(IDLE_MS[2], p50[2], 0);
        AutoMode<SwitcherTest.FakeSession> auto = new AutoMode<SwitcherTest.FakeSession>(sw, p50, 15, 5, 0.8);
        assertEquals("w0.5_d1", sw.index().entries.get(sw.currentEntry()).name);
        assertTrue(auto.policy().lastReason(), auto.policy().lastReason().startsWith("start: largest entry"));
        assertTrue(auto.status(), auto.status().contains("measuring (0/5 runs; at start p50 10.0 ms)"));

        phone.load = 3.0;  // the phone gets busy: 30 ms on w0.5_d1
        AutoPolicy.Decision d = null;
        for (int i = 0; i < 5; i++) {
            d = auto.afterRun(phone.runMillis(sw.current()));
        }
        assertTrue(d.switched);
        assertEquals("w0.25_d0.5", sw.current().name);
        assertEquals(d.reason, sw.log().last().reason);
        assertTrue(d.reason, d.reason.contains("step down to w0.25_d0.5"));

        phone.load = 1.0;  // idle again: w0.5_d1 expected at 10 <= 12 ms
        for (int i = 0; i < 5; i++) {
            d = auto.afterRun(phone.runMillis(sw.current()));
        }
        assertTrue(d.switched);
        assertEquals("w0.5_d1", sw.current().name);
        assertTrue(sw.log().last().reused);  // the previous session was kept: switching back is free
        assertTrue(auto.status(), auto.status().startsWith("w0.5_d1 · last 3.0 ms"));

        Map<String, Object> m = auto.toMap();
        assertEquals(15.0, m.get("budget_ms"));
        assertEquals(Arrays.asList(BundleFixture.NAMES), m.get("ladder"));
        assertEquals("w0.5_d1", m.get("running"));
    }

    @Test
    public void entriesNoFasterThanALargerOneAreLeftOffTheLadder() throws Exception {
        Switcher<SwitcherTest.FakeSession> sw = switcher();
        // w0.5_d1 measured slower than w1_d1: stepping down to it would never help.
        AutoMode<SwitcherTest.FakeSession> auto = new AutoMode<SwitcherTest.FakeSession>(sw,
                new double[] {20.0, 22.0, 3.0}, 21, 5, 0.8);
        assertEquals(Arrays.asList("w1_d1", "w0.25_d0.5"), auto.ladder().names);
        assertEquals(-1, auto.ladder().rungOf(1));
        assertEquals(1, auto.ladder().rungOf(2));
        assertEquals("w1_d1", sw.current().name);
        for (int i = 0; i < 5; i++) {
            auto.afterRun(40);
        }
        assertEquals("w0.25_d0.5", sw.current().name);  // straight past the dropped entry
        assertTrue(auto.ladder().dropped.get(0), auto.ladder().dropped.get(0).contains("w0.5_d1 (22.0 ms) is not faster than w1_d1"));
    }

    @Test
    public void measuringCanBeCancelled() throws Exception {
        Switcher<SwitcherTest.FakeSession> sw = switcher();
        try {
            AutoMode.measure(sw, new Phone(), 2, new AutoMode.Progress() {
                @Override
                public boolean onEntry(int done, int total, String name) {
                    return done < 1;
                }
            });
            fail();
        } catch (InterruptedException expected) {
            assertTrue(expected.getMessage().contains("cancelled"));
        }
        assertFalse(sw.currentEntry() < 0);
    }

    @Test
    public void theLadderRefusesBadMeasurements() {
        List<String> names = Arrays.asList("a", "b");
        try {
            AutoLadder.of(names, new double[] {1.0});
            fail();
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("2 entries, 1 latencies"));
        }
        try {
            AutoLadder.of(names, new double[] {1.0, Double.NaN});
            fail();
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("start-up latency of b"));
        }
    }
}

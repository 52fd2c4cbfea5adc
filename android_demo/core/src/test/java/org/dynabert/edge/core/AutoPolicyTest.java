package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;

import org.junit.Test;

public class AutoPolicyTest {
    private static final List<String> NAMES = Arrays.asList("w1_d1", "w0.5_d1", "w0.25_d0.5");
    private static final double[] P50 = {20.0, 10.0, 3.0};

    private static AutoPolicy policy(double budget) {
        return new AutoPolicy(NAMES, P50, budget, 5, 0.8);
    }

    private static AutoPolicy.Decision feed(AutoPolicy p, double ms, int runs) {
        AutoPolicy.Decision d = null;
        for (int i = 0; i < runs; i++) {
            d = p.record(ms);
            if (d.switched) {
                return d;
            }
        }
        return d;
    }

    @Test
    public void startsOnTheLargestEntryThatMeetsTheBudget() {
        assertEquals("w1_d1", policy(25).currentName());
        assertEquals("w0.5_d1", policy(15).currentName());
        assertEquals("w0.5_d1", policy(10).currentName());  // p50 == budget meets it
        assertEquals("w0.25_d0.5", policy(5).currentName());
        AutoPolicy none = policy(1);
        assertEquals("w0.25_d0.5", none.currentName());
        assertTrue(none.lastReason(), none.lastReason().contains("no entry meets"));
    }

    @Test
    public void stepsDownWhenTheWindowP50GoesOverBudgetAndNotBefore() {
        AutoPolicy p = policy(15);  // on w0.5_d1 (10 ms)
        for (int i = 0; i < 4; i++) {
            assertFalse(p.record(30).switched);  // the window is not full yet
        }
        AutoPolicy.Decision d = p.record(30);
        assertTrue(d.switched);
        assertEquals(2, d.entry);
        assertTrue(d.reason, d.reason.contains("step down") && d.reason.contains("30.0 ms"));
        assertEquals(d.reason, p.lastReason());
    }

    @Test
    public void oneSlowRunInAWindowDoesNotSwitch() {
        AutoPolicy p = policy(15);
        double[] runs = {9, 9, 40, 9, 9, 9, 9, 9};  // p50 of every window stays 9
        for (double ms : runs) {
            assertFalse(p.record(ms).switched);
        }
        assertEquals("w0.5_d1", p.currentName());
    }

    @Test
    public void stepsBackUpOnlyWhenTheLargerEntryIsExpectedWithinTheMargin() {
        AutoPolicy p = policy(15);
        assertTrue(feed(p, 30, 5).switched);  // busy: down to w0.25_d0.5
        assertEquals(2, p.current());
        // Still busy: 3 ms at start now takes 4 ms (x1.33), so w0.5_d1 would take 13.3 > 0.8 x 15 = 12.
        AutoPolicy.Decision d = feed(p, 4.0, 20);
        assertFalse(d.switched);
        // Load gone: 3 ms again, w0.5_d1 expected at 10 <= 12: step up.
        d = feed(p, 3.0, 5);
        assertTrue(d.switched);
        assertEquals(1, d.entry);
        assertTrue(d.reason, d.reason.contains("step up") && d.reason.contains("w0.5_d1 expected at 10.0 ms"));
        // w1_d1 (20 ms) never fits a 15 ms budget: stays.
        assertFalse(feed(p, 10.0, 20).switched);
        assertEquals("w0.5_d1", p.currentName());
    }

    @Test
    public void theMarginStopsBouncingBetweenTwoEntriesStraddlingTheBudget() {
        // "a" measured 12 ms at start but now takes 13 ms; "b" takes 10 ms. Budget 12.5 ms.
        AutoPolicy p = new AutoPolicy(Arrays.asList("a", "b"), new double[] {12.0, 10.0}, 12.5, 3, 0.8);
        assertEquals("a", p.currentName());
        int switches = 0;
        for (int i = 0; i < 60; i++) {
            if (p.record(p.current() == 0 ? 13.0 : 10.0).switched) {
                switches++;
            }
        }
        // One step down, then "a" (expected 12 ms > 0.8 x 12.5 = 10) is not retried: no a-b-a-b bouncing.
        assertEquals(1, switches);
        assertEquals("b", p.currentName());
    }

    @Test
    public void aBigSlowdownStepsDownStraightToTheEntryExpectedToFit() {
        // Four entries 40/20/10/5 ms, budget 45: starts on the largest. The phone gets 3x slower:
        // 120 ms; 20 x 3 = 60 and 10 x 3 = 30 -> straight to the third, not one step per window.
        AutoPolicy p = new AutoPolicy(Arrays.asList("a", "b", "c", "d"), new double[] {40, 20, 10, 5}, 45, 3, 0.8);
        assertEquals(0, p.current());
        assertTrue(Double.isNaN(p.lastWindowP50()));
        AutoPolicy.Decision d = feed(p, 120, 3);
        assertTrue(d.switched);
        assertEquals(0, d.from);
        assertEquals(2, d.entry);
        assertTrue(d.reason, d.reason.contains("(3.00x its start-up p50): step down to c, expected at 30.0 ms"));
        assertEquals(0, p.runsInWindow());
        assertTrue(Double.isNaN(p.lastWindowP50()));
        // Nothing fits a 50x slowdown: the smallest.
        d = feed(p, 500, 3);
        assertTrue(d.switched);
        assertEquals(3, d.entry);
        assertFalse(feed(p, 250, 3).switched);  // already the smallest: stays, over budget
        assertEquals(250.0, p.lastWindowP50(), 0);
        assertEquals(3, p.runsInWindow());
    }

    @Test
    public void aNegativeOrNonFiniteRunIsRefused() {
        AutoPolicy p = policy(15);
        for (double ms : new double[] {-1, Double.NaN, Double.POSITIVE_INFINITY}) {
            try {
                p.record(ms);
                fail("accepted " + ms);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("latency"));
            }
        }
        assertEquals(0, p.runsInWindow());
    }

    @Test
    public void badSettingsAreRefusedWithWhatWasWrong() {
        double[][] latencies = {{1, 2}, {1, 2, 3}};
        try {
            new AutoPolicy(NAMES, latencies[0], 10, 5, 0.8);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("3 entries, 2 latencies"));
        }
        for (double budget : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            try {
                new AutoPolicy(NAMES, latencies[1], budget, 5, 0.8);
                fail("budget " + budget);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("budget"));
            }
        }
        try {
            new AutoPolicy(NAMES, latencies[1], 10, 0, 0.8);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("window"));
        }
        try {
            new AutoPolicy(NAMES, latencies[1], 10, 5, 1.5);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("upMargin"));
        }
    }
}

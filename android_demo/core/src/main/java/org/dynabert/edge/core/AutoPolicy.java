package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Auto mode: which sub-network to run under a latency budget, as the phone's load changes.
 *
 * <p>The entries are given largest (most accurate, slowest) first, each with the p50 latency measured
 * for it at start (a few runs each). The policy starts on the largest entry whose p50 meets the budget,
 * then watches the running entry's p50 over a sliding window of recent runs:
 * <ul>
 *   <li><b>step down</b> when the window's p50 is over budget (the phone is busy or hot): to the largest
 *       smaller entry expected to meet the budget at the current slowdown (its start-up p50 scaled by
 *       how much slower the running entry is now than at start), at least one entry, the smallest when
 *       none is expected to fit. With 12 entries a one-entry step would need up to 11 windows of
 *       over-budget runs to reach the bottom;</li>
 *   <li><b>step up</b> one entry when the larger entry is expected to fit with a margin: its start-up
 *       p50 scaled by how much slower the running entry is now than at start, at most
 *       {@code upMargin} x budget. The margin is the hysteresis that keeps the policy from bouncing
 *       between two entries whose latencies straddle the budget.</li>
 * </ul>
 * After a switch the window starts empty, so every decision rests on a full window of the new entry.
 * The entries should be strictly faster as they get smaller; {@link AutoLadder} drops those that are
 * not (a smaller sub-network measured no faster than a larger one buys nothing).
 * Plain Java (no Android types) so that it is unit-tested on the JVM.
 */
public final class AutoPolicy {
    /** What {@link #record} decided; {@code switched} is false when the entry stays. */
    public static final class Decision {
        public final boolean switched;
        /** The entry before this run was recorded. */
        public final int from;
        public final int entry;
        public final String reason;

        Decision(boolean switched, int from, int entry, String reason) {
            this.switched = switched;
            this.from = from;
            this.entry = entry;
            this.reason = reason;
        }
    }

    private final List<String> names;
    private final double[] startP50;
    private final double budgetMs;
    private final int window;
    private final double upMargin;
    private final double[] recent;
    private int filled;
    private int next;
    private int current;
    private String lastReason;
    /** p50 of the last full window of the current entry; NaN until one is full. */
    private double lastWindowP50 = Double.NaN;

    /**
     * @param names     entry names, largest first
     * @param startP50  p50 ms of each entry measured at start (same order)
     * @param budgetMs  the latency budget, ms (finite, > 0)
     * @param window    runs per decision (>= 1)
     * @param upMargin  step up only when the larger entry is expected within this share of the budget
     *                  (0 < upMargin <= 1; e.g. 0.8)
     */
    public AutoPolicy(List<String> names, double[] startP50, double budgetMs, int window, double upMargin) {
        if (names.isEmpty() || names.size() != startP50.length) {
            throw new IllegalArgumentException("auto mode: need one start-up p50 per entry (" + names.size()
                    + " entries, " + startP50.length + " latencies)");
        }
        if (!(budgetMs > 0) || Double.isInfinite(budgetMs)) {
            throw new IllegalArgumentException("auto mode: the latency budget must be a finite number > 0 ms, not "
                    + budgetMs);
        }
        if (window < 1) {
            throw new IllegalArgumentException("auto mode: the window must be >= 1 run, not " + window);
        }
        if (!(upMargin > 0 && upMargin <= 1)) {
            throw new IllegalArgumentException("auto mode: upMargin must be in (0, 1], not " + upMargin);
        }
        for (double p : startP50) {
            if (!(p > 0) || Double.isInfinite(p)) {
                throw new IllegalArgumentException("auto mode: start-up latencies must be finite and > 0 ms");
            }
        }
        this.names = Collections.unmodifiableList(new ArrayList<String>(names));
        this.startP50 = startP50.clone();
        this.budgetMs = budgetMs;
        this.window = window;
        this.upMargin = upMargin;
        this.recent = new double[window];
        this.current = names.size() - 1;
        this.lastReason = "no entry meets " + fmt(budgetMs) + " ms at start: running the smallest";
        for (int i = 0; i < names.size(); i++) {
            if (startP50[i] <= budgetMs) {
                current = i;
                lastReason = "start: largest entry with p50 " + fmt(startP50[i]) + " ms <= budget "
                        + fmt(budgetMs) + " ms";
                break;
            }
        }
    }

    public int current() {
        return current;
    }

    public String currentName() {
        return names.get(current);
    }

    public int size() {
        return names.size();
    }

    public String name(int entry) {
        return names.get(entry);
    }

    /** The start-up p50 of {@code entry}, ms. */
    public double startP50(int entry) {
        return startP50[entry];
    }

    public double budgetMs() {
        return budgetMs;
    }

    public int window() {
        return window;
    }

    /** Runs of the current entry in the window so far (0 right after a switch). */
    public int runsInWindow() {
        return filled;
    }

    /** The p50 of the current entry's last full window, ms; NaN until the window has filled once. */
    public double lastWindowP50() {
        return lastWindowP50;
    }

    /** Why the policy is on the current entry (shown on screen). */
    public String lastReason() {
        return lastReason;
    }

    /** Feed one measured run of the current entry; returns whether to switch, and why. */
    public Decision record(double ms) {
        if (!(ms >= 0) || Double.isInfinite(ms)) {
            throw new IllegalArgumentException("auto mode: a run's latency must be a finite number >= 0 ms, not " + ms);
        }
        recent[next] = ms;
        next = (next + 1) % window;
        filled = Math.min(filled + 1, window);
        if (filled < window) {
            return new Decision(false, current, current, lastReason);
        }
        double p50 = windowP50();
        lastWindowP50 = p50;
        double slowdown = p50 / startP50[current];
        if (p50 > budgetMs && current < names.size() - 1) {
            int to = current + 1;
            while (to < names.size() - 1 && startP50[to] * slowdown > budgetMs) {
                to++;
            }
            return switchTo(to, "p50 " + fmt(p50) + " ms of " + names.get(current) + " > budget "
                    + fmt(budgetMs) + " ms (" + fmt2(slowdown) + "x its start-up p50): step down to " + names.get(to)
                    + ", expected at " + fmt(startP50[to] * slowdown) + " ms");
        }
        if (current > 0) {
            double expected = startP50[current - 1] * slowdown;
            if (expected <= upMargin * budgetMs) {
                return switchTo(current - 1, names.get(current - 1) + " expected at " + fmt(expected) + " ms <= "
                        + fmt(upMargin * 100) + "% of budget " + fmt(budgetMs) + " ms: step up");
            }
        }
        return new Decision(false, current, current, lastReason);
    }

    private Decision switchTo(int entry, String reason) {
        int from = current;
        current = entry;
        lastReason = reason;
        filled = 0;
        next = 0;
        lastWindowP50 = Double.NaN;
        return new Decision(true, from, entry, reason);
    }

    private double windowP50() {
        double[] s = Arrays.copyOf(recent, window);
        Arrays.sort(s);
        return LatencyStats.percentile(s, 50);
    }

    private static String fmt2(double v) {
        return String.format(java.util.Locale.ROOT, "%.2f", v);
    }

    private static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.1f", v);
    }
}

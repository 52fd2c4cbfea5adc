package org.dynabert.edge.core;

import java.io.Closeable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Auto mode over a bundle: measure every entry at start ({@link #measure}), keep the entries that are
 * worth stepping to ({@link AutoLadder}), run the largest that meets the budget ({@link AutoPolicy}),
 * and after every run feed its latency to the policy and switch ({@link Switcher}) when it says so.
 *
 * <p>The latency fed is what the app measures for a classification (tokenizer + model), the same
 * quantity as the start-up measurement; the switch itself (session creation and a warm-up run) is not
 * fed, it is recorded in the {@link SwitchLog}.
 */
public final class AutoMode<T extends Closeable> {
    /** Runs per entry at start: "a few runs each"; the p50 of 5 shrugs off one slow run. */
    public static final int DEFAULT_START_RUNS = 5;
    public static final int DEFAULT_WINDOW = 5;
    public static final double DEFAULT_UP_MARGIN = 0.8;

    /** One timed run of an entry (the app classifies a fixed text), ms. */
    public interface Probe<T> {
        double runMillis(T model) throws Exception;
    }

    /** Called before each entry is measured; return false to cancel. */
    public interface Progress {
        boolean onEntry(int done, int total, String name);
    }

    private final Switcher<T> switcher;
    private final double[] startP50;
    private final AutoLadder ladder;
    private final AutoPolicy policy;
    private double lastMs = Double.NaN;

    /**
     * Measures each entry of the bundle, largest first: switch to it (session created, warm-up run),
     * then {@code runs} timed runs; returns each entry's p50 in the index's order.
     */
    public static <T extends Closeable> double[] measure(Switcher<T> switcher, Probe<T> probe, int runs,
                                                         Progress progress) throws Exception {
        if (runs < 1) {
            throw new IllegalArgumentException("auto mode: measure each entry at least once, not " + runs + " times");
        }
        BundleIndex index = switcher.index();
        double[] p50 = new double[index.size()];
        for (int i = 0; i < index.size(); i++) {
            String name = index.entries.get(i).name;
            if (progress != null && !progress.onEntry(i, index.size(), name)) {
                throw new InterruptedException("auto mode: measuring cancelled");
            }
            switcher.switchTo(i, "auto mode: measuring " + name + " at start");
            double[] ms = new double[runs];
            for (int r = 0; r < runs; r++) {
                ms[r] = probe.runMillis(switcher.current());
            }
            p50[i] = LatencyStats.ofMillis(ms).median;
        }
        return p50;
    }

    /**
     * Starts auto mode on measured entries and switches to the entry the policy starts on.
     *
     * @param startP50 each entry's start-up p50, in the index's order ({@link #measure})
     */
    public AutoMode(Switcher<T> switcher, double[] startP50, double budgetMs, int window, double upMargin)
            throws Exception {
        this.switcher = switcher;
        this.startP50 = startP50.clone();
        this.ladder = AutoLadder.of(switcher.index().names(), startP50);
        this.policy = new AutoPolicy(ladder.names, ladder.p50, budgetMs, window, upMargin);
        switcher.switchTo(ladder.entryIndex[policy.current()], policy.lastReason());
    }

    /**
     * Feeds the latency of one run of the running entry; switches when the policy says so. Returns the
     * policy's decision ({@code entry} and {@code from} are rungs of {@link #ladder()}).
     */
    public AutoPolicy.Decision afterRun(double ms) throws Exception {
        lastMs = ms;
        AutoPolicy.Decision d = policy.record(ms);
        if (d.switched) {
            switcher.switchTo(ladder.entryIndex[d.entry], d.reason);
        }
        return d;
    }

    public AutoPolicy policy() {
        return policy;
    }

    public AutoLadder ladder() {
        return ladder;
    }

    /** The start-up p50 of every entry, in the index's order. */
    public double[] startP50() {
        return startP50.clone();
    }

    /** The last run fed, ms (NaN before the first). */
    public double lastMs() {
        return lastMs;
    }

    /** "w0.75_d1 · last 11.2 ms · p50 10.9 ms over 5 runs · budget 15.0 ms" for the screen. */
    public String status() {
        StringBuilder sb = new StringBuilder(policy.currentName());
        if (!Double.isNaN(lastMs)) {
            sb.append(String.format(Locale.ROOT, " · last %.1f ms", lastMs));
        }
        if (!Double.isNaN(policy.lastWindowP50())) {
            sb.append(String.format(Locale.ROOT, " · p50 %.1f ms over %d runs", policy.lastWindowP50(), policy.window()));
        } else {
            sb.append(String.format(Locale.ROOT, " · measuring (%d/%d runs; at start p50 %.1f ms)",
                    policy.runsInWindow(), policy.window(), policy.startP50(policy.current())));
        }
        sb.append(String.format(Locale.ROOT, " · budget %.1f ms", policy.budgetMs()));
        return sb.toString();
    }

    /** The start-up measurement and the ladder, for the benchmark file. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("budget_ms", Double.valueOf(policy.budgetMs()));
        m.put("window", Integer.valueOf(policy.window()));
        List<Object> start = new ArrayList<Object>();
        List<String> names = switcher.index().names();
        for (int i = 0; i < names.size(); i++) {
            Map<String, Object> e = new LinkedHashMap<String, Object>();
            e.put("name", names.get(i));
            e.put("start_p50_ms", Double.valueOf(startP50[i]));
            e.put("on_ladder", Boolean.valueOf(ladder.rungOf(i) >= 0));
            start.add(e);
        }
        m.put("entries", start);
        m.put("ladder", ladder.names);
        m.put("left_out", ladder.dropped);
        m.put("running", policy.currentName());
        m.put("last_reason", policy.lastReason());
        return m;
    }
}

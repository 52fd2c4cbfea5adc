package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The rungs auto mode moves along: the bundle's entries (largest first) measured at start, less every
 * entry that is not strictly faster than a larger one kept before it.
 *
 * <p>On a phone, width and depth do not cost what their MACs say: w1_d0.5 may run slower than w0.75_d1
 * although it is listed after it. Stepping down to an entry that is smaller (less accurate) but not
 * faster never helps a latency budget, and {@link AutoPolicy}'s step-up estimate assumes each rung is
 * faster than the one above, so such entries are left out (and listed, with why, for the screen and
 * the benchmark file).
 */
public final class AutoLadder {
    /** Kept entries' names, largest first. */
    public final List<String> names;
    /** Their start-up p50, ms (strictly decreasing). */
    public final double[] p50;
    /** For each rung, its position in the list given to {@link #of}. */
    public final int[] entryIndex;
    /** "w1_d0.5 (14.0 ms) is not faster than w0.75_d1 (12.0 ms)", one per entry left out. */
    public final List<String> dropped;

    private AutoLadder(List<String> names, double[] p50, int[] entryIndex, List<String> dropped) {
        this.names = Collections.unmodifiableList(names);
        this.p50 = p50;
        this.entryIndex = entryIndex;
        this.dropped = Collections.unmodifiableList(dropped);
    }

    /** @param names entry names, largest first; @param p50 each entry's start-up p50 (ms, finite, > 0) */
    public static AutoLadder of(List<String> names, double[] p50) {
        if (names.isEmpty() || names.size() != p50.length) {
            throw new IllegalArgumentException("auto mode: need one start-up p50 per entry (" + names.size()
                    + " entries, " + p50.length + " latencies)");
        }
        List<String> kept = new ArrayList<String>();
        List<Double> keptP50 = new ArrayList<Double>();
        List<Integer> index = new ArrayList<Integer>();
        List<String> dropped = new ArrayList<String>();
        for (int i = 0; i < names.size(); i++) {
            double p = p50[i];
            if (!(p > 0) || Double.isInfinite(p)) {
                throw new IllegalArgumentException("auto mode: start-up latency of " + names.get(i)
                        + " must be finite and > 0 ms, not " + p);
            }
            if (!kept.isEmpty() && p >= keptP50.get(keptP50.size() - 1)) {
                dropped.add(String.format(Locale.ROOT, "%s (%.1f ms) is not faster than %s (%.1f ms)", names.get(i), p,
                        kept.get(kept.size() - 1), keptP50.get(keptP50.size() - 1)));
                continue;
            }
            kept.add(names.get(i));
            keptP50.add(p);
            index.add(i);
        }
        double[] ps = new double[kept.size()];
        int[] idx = new int[kept.size()];
        for (int i = 0; i < ps.length; i++) {
            ps[i] = keptP50.get(i);
            idx[i] = index.get(i);
        }
        return new AutoLadder(kept, ps, idx, dropped);
    }

    /** The rung of entry {@code entryIndex} (position in the list given to {@link #of}), or -1 if left out. */
    public int rungOf(int entry) {
        for (int i = 0; i < entryIndex.length; i++) {
            if (entryIndex[i] == entry) {
                return i;
            }
        }
        return -1;
    }
}

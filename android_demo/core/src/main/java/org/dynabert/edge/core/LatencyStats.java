package org.dynabert.edge.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Summary statistics of latencies in milliseconds; percentiles interpolate linearly like numpy's default. */
public final class LatencyStats {
    public final int count;
    public final double mean;
    public final double median;
    public final double p90;
    public final double min;
    public final double max;
    /** Population standard deviation (numpy's default, ddof=0). */
    public final double std;

    private LatencyStats(double[] ms) {
        count = ms.length;
        double[] s = ms.clone();
        Arrays.sort(s);
        double sum = 0;
        for (double v : s) {
            sum += v;
        }
        mean = sum / count;
        double var = 0;
        for (double v : s) {
            var += (v - mean) * (v - mean);
        }
        std = Math.sqrt(var / count);
        median = percentile(s, 50);
        p90 = percentile(s, 90);
        min = s[0];
        max = s[count - 1];
    }

    public static LatencyStats ofMillis(double[] ms) {
        if (ms == null || ms.length == 0) {
            throw new IllegalArgumentException("no samples");
        }
        return new LatencyStats(ms);
    }

    public static LatencyStats ofNanos(long[] nanos) {
        double[] ms = new double[nanos.length];
        for (int i = 0; i < nanos.length; i++) {
            ms[i] = nanos[i] / 1e6;
        }
        return ofMillis(ms);
    }

    /** numpy.percentile(sorted, q) with the default "linear" method. */
    static double percentile(double[] sorted, double q) {
        double pos = (sorted.length - 1) * q / 100.0;
        int lo = (int) Math.floor(pos);
        int hi = (int) Math.ceil(pos);
        double frac = pos - lo;
        return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
    }

    public Map<String, Object> toMap() {
        LinkedHashMap<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("count", Integer.valueOf(count));
        m.put("mean", Double.valueOf(mean));
        m.put("median", Double.valueOf(median));
        m.put("p90", Double.valueOf(p90));
        m.put("min", Double.valueOf(min));
        m.put("max", Double.valueOf(max));
        m.put("std", Double.valueOf(std));
        return m;
    }
}

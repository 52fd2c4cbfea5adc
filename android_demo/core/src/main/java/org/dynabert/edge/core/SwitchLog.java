package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every switch between a bundle's sub-networks: when, from what to what, why, and what it cost (creating
 * the session, or reusing one kept open, plus the first, warm-up run). Shown on screen (the last one)
 * and written into the benchmark file (all of them, up to a bound, with summary statistics).
 */
public final class SwitchLog {
    /** One switch. */
    public static final class Event {
        /** Milliseconds since the log started. */
        public final double atMs;
        /** null for the first entry loaded. */
        public final String from;
        public final String to;
        public final String reason;
        /** True when the session was kept open from before (no session created). */
        public final boolean reused;
        /** Session creation, ms (0 when reused). */
        public final double createMs;
        /** The untimed warm-up run after creating the session, ms (0 when reused or none). */
        public final double warmupMs;

        Event(double atMs, String from, String to, String reason, boolean reused, double createMs, double warmupMs) {
            this.atMs = atMs;
            this.from = from;
            this.to = to;
            this.reason = reason;
            this.reused = reused;
            this.createMs = createMs;
            this.warmupMs = warmupMs;
        }

        /** What switching cost before the new entry could answer: session creation + warm-up run. */
        public double totalMs() {
            return createMs + warmupMs;
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<String, Object>();
            m.put("at_ms", Double.valueOf(atMs));
            m.put("from", from);
            m.put("to", to);
            m.put("reason", reason);
            m.put("session", reused ? "kept" : "created");
            m.put("create_ms", Double.valueOf(createMs));
            m.put("warmup_ms", Double.valueOf(warmupMs));
            m.put("total_ms", Double.valueOf(totalMs()));
            return m;
        }
    }

    /** Events kept for the file; a long auto-mode session keeps the first ones and counts the rest. */
    static final int MAX_EVENTS = 500;

    private final long startNanos;
    private final List<Event> events = new ArrayList<Event>();
    private int count;
    private Event last;

    public SwitchLog(long startNanos) {
        this.startNanos = startNanos;
    }

    public Event add(long atNanos, String from, String to, String reason, boolean reused, double createMs,
                     double warmupMs) {
        Event e = new Event((atNanos - startNanos) / 1e6, from, to, reason, reused, createMs, warmupMs);
        count++;
        last = e;
        if (events.size() < MAX_EVENTS) {
            events.add(e);
        }
        return e;
    }

    /** The last switch, or null. */
    public Event last() {
        return last;
    }

    /** All switches so far, including those not kept in {@link #events()}. */
    public int count() {
        return count;
    }

    public List<Event> events() {
        return Collections.unmodifiableList(events);
    }

    /**
     * {"count", "kept_in_file", "created": {stats of total_ms} | null, "reused": {...} | null, "events": [...]}:
     * switches that created a session and switches to a session kept open, summarised separately.
     */
    public Map<String, Object> toMap() {
        List<Double> created = new ArrayList<Double>();
        List<Double> reused = new ArrayList<Double>();
        List<Object> list = new ArrayList<Object>();
        for (Event e : events) {
            (e.reused ? reused : created).add(Double.valueOf(e.totalMs()));
            list.add(e.toMap());
        }
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("count", Integer.valueOf(count));
        m.put("kept_in_file", Integer.valueOf(events.size()));
        m.put("created_total_ms", stats(created));
        m.put("reused_total_ms", stats(reused));
        m.put("events", list);
        return m;
    }

    private static Object stats(List<Double> values) {
        if (values.isEmpty()) {
            return null;
        }
        double[] a = new double[values.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = values.get(i).doubleValue();
        }
        return LatencyStats.ofMillis(a).toMap();
    }
}

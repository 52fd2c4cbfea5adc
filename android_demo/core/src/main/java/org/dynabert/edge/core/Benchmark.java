package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark loop and the JSON result file {@code device_bench} pulls from the phone.
 *
 * <p>For each model: {@code warmup} untimed runs, then {@code runs} timed runs; run {@code i} classifies
 * {@code texts[i % texts.length]}. Tokenizer, model and total time are recorded per run.
 */
public final class Benchmark {
    /** Version tag of the result file layout; bump it when a field changes meaning. */
    public static final String SCHEMA = "dynabert-edge/android-bench/v1";

    /** Default texts when the intent gives none: short, medium and long SST-2-style reviews. */
    public static final String[] DEFAULT_TEXTS = {
        "a gorgeous, witty, seductive movie.",
        "the film is strictly routine, with a plot that never rises above the level of a sitcom.",
        "it's a charming and often affecting journey, though its ending is a little too tidy, and the"
            + " second half drags in places where the first half felt brisk, funny and alive.",
    };

    private Benchmark() {
    }

    /** Timings of one model. */
    public static final class ModelRun {
        public final long[] tokenizeNanos;
        public final long[] modelNanos;
        public final long[] totalNanos;
        public final int[] sequenceLengths;
        public final Classification first;

        ModelRun(long[] tokenizeNanos, long[] modelNanos, long[] totalNanos, int[] sequenceLengths,
                 Classification first) {
            this.tokenizeNanos = tokenizeNanos;
            this.modelNanos = modelNanos;
            this.totalNanos = totalNanos;
            this.sequenceLengths = sequenceLengths;
            this.first = first;
        }
    }

    /** Called between runs; return false to stop early. */
    public interface Progress {
        boolean onRun(int done, int total);
    }

    public static ModelRun run(TextClassifier classifier, String[] texts, int warmup, int runs, Progress progress)
            throws Exception {
        if (texts == null || texts.length == 0) {
            throw new IllegalArgumentException("no benchmark texts");
        }
        if (runs < 1) {
            throw new IllegalArgumentException("runs must be at least 1");
        }
        for (int i = 0; i < warmup; i++) {
            classifier.classify(texts[i % texts.length]);
        }
        long[] tok = new long[runs];
        long[] mod = new long[runs];
        long[] tot = new long[runs];
        int[] len = new int[runs];
        Classification first = null;
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            Classification c = classifier.classify(texts[i % texts.length]);
            long t1 = System.nanoTime();
            tok[i] = c.tokenizeNanos;
            mod[i] = c.modelNanos;
            tot[i] = t1 - t0;
            len[i] = c.sequenceLength;
            if (first == null) {
                first = c;
            }
            if (progress != null && !progress.onRun(i + 1, runs)) {
                throw new InterruptedException("benchmark cancelled");
            }
        }
        return new ModelRun(tok, mod, tot, len, first);
    }

    /** The JSON entry for one model that ran. */
    public static Map<String, Object> modelEntry(ModelCard card, double loadMillis, ModelRun run) {
        Map<String, Object> m = cardFields(card);
        m.put("status", "ok");
        m.put("load_ms", Double.valueOf(loadMillis));
        putRun(m, run);
        return m;
    }

    /**
     * The JSON entry for one sub-network of a bundle that ran: its name, width, depth, graph, params and
     * MACs from the index, what switching to it cost ({@code switch}: session creation + warm-up run,
     * the {@link SwitchLog} event), and the same timing fields as {@link #modelEntry}.
     */
    public static Map<String, Object> bundleEntry(BundleIndex index, BundleIndex.Entry e, SwitchLog.Event switched,
                                                  ModelRun run) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("name", e.name);
        m.put("width_mult", Double.valueOf(e.widthMult));
        m.put("depth_mult", Double.valueOf(e.depthMult));
        m.put("precision", index.precision);
        m.put("graph", e.graph);
        m.put("params", Long.valueOf(e.params));
        m.put("macs", Long.valueOf(e.macs));
        m.put("status", "ok");
        m.put("switch", switched == null ? null : switched.toMap());
        putRun(m, run);
        return m;
    }

    /** A bundle entry that failed to load or run. */
    public static Map<String, Object> failedBundleEntry(BundleIndex.Entry e, Throwable error) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("name", e.name);
        m.put("width_mult", Double.valueOf(e.widthMult));
        m.put("depth_mult", Double.valueOf(e.depthMult));
        m.put("graph", e.graph);
        m.put("status", "error");
        String msg = error.getMessage();
        m.put("error", error.getClass().getSimpleName() + (msg == null ? "" : ": " + msg));
        return m;
    }

    private static void putRun(Map<String, Object> m, ModelRun run) {
        m.put("runs", Integer.valueOf(run.totalNanos.length));
        m.put("tokenize_ms", LatencyStats.ofNanos(run.tokenizeNanos).toMap());
        m.put("model_ms", LatencyStats.ofNanos(run.modelNanos).toMap());
        m.put("total_ms", LatencyStats.ofNanos(run.totalNanos).toMap());
        int minLen = Integer.MAX_VALUE;
        int maxLen = 0;
        for (int l : run.sequenceLengths) {
            minLen = Math.min(minLen, l);
            maxLen = Math.max(maxLen, l);
        }
        m.put("seq_len_min", Integer.valueOf(minLen));
        m.put("seq_len_max", Integer.valueOf(maxLen));
        if (run.first != null) {
            LinkedHashMap<String, Object> p = new LinkedHashMap<String, Object>();
            p.put("label", run.first.label);
            p.put("probability", Double.valueOf(run.first.probability));
            m.put("first_prediction", p);
        }
        m.put("error", null);
    }

    /** The JSON entry for a model that failed to load or run; the benchmark goes on with the next one. */
    public static Map<String, Object> failedEntry(String folder, ModelCard card, Throwable error) {
        Map<String, Object> m = card != null ? cardFields(card) : new LinkedHashMap<String, Object>();
        if (card == null) {
            m.put("name", folder);
        }
        m.put("folder", folder);
        m.put("status", "error");
        String msg = error.getMessage();
        m.put("error", error.getClass().getSimpleName() + (msg == null ? "" : ": " + msg));
        return m;
    }

    private static Map<String, Object> cardFields(ModelCard card) {
        LinkedHashMap<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("name", card.name);
        m.put("width_mult", Double.valueOf(card.widthMult));
        m.put("depth_mult", Double.valueOf(card.depthMult));
        m.put("format", card.format);
        m.put("precision", card.precision);
        m.put("bytes", Long.valueOf(card.bytes));
        m.put("max_length", Integer.valueOf(card.maxLength));
        return m;
    }

    /**
     * The whole result file.
     *
     * @param device   free-form device facts (manufacturer, model, sdk_int, abis, cores)
     * @param runtime  runtime facts (name, version, threads)
     * @param settings runs, warmup, texts and other run settings
     */
    public static String report(Map<String, Object> device, Map<String, Object> runtime,
                                Map<String, Object> settings, List<Map<String, Object>> models,
                                long startedAtMillis, long finishedAtMillis) {
        return report(device, runtime, settings, models, new ArrayList<Map<String, Object>>(), startedAtMillis,
                finishedAtMillis);
    }

    /**
     * As above, with the bundles' results: a model folder holding a shared-weight bundle is reported
     * under {@code "bundles"} (one object per folder, its entries inside), not under {@code "models"},
     * so a reader of standalone model rows never mistakes a bundle entry for a standalone file. The
     * status is "ok" only when every model and every bundle (and each of its entries) ran.
     */
    public static String report(Map<String, Object> device, Map<String, Object> runtime,
                                Map<String, Object> settings, List<Map<String, Object>> models,
                                List<Map<String, Object>> bundles, long startedAtMillis, long finishedAtMillis) {
        LinkedHashMap<String, Object> root = new LinkedHashMap<String, Object>();
        root.put("schema", SCHEMA);
        boolean any = !models.isEmpty() || !bundles.isEmpty();
        boolean allOk = any;
        for (Map<String, Object> m : models) {
            if (!"ok".equals(m.get("status"))) {
                allOk = false;
            }
        }
        for (Map<String, Object> b : bundles) {
            if (!"ok".equals(b.get("status"))) {
                allOk = false;
            }
        }
        root.put("status", allOk ? "ok" : (any ? "partial" : "no_models"));
        root.put("started_at_ms", Long.valueOf(startedAtMillis));
        root.put("finished_at_ms", Long.valueOf(finishedAtMillis));
        root.put("device", device);
        root.put("runtime", runtime);
        root.put("settings", settings);
        root.put("models", new ArrayList<Map<String, Object>>(models));
        root.put("bundles", new ArrayList<Map<String, Object>>(bundles));
        return Json.writePretty(root, 2) + "\n";
    }
}

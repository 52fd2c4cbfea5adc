package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code model_card.json}, written next to the model by {@code python -m device_bench.pick --install-into}.
 *
 * <p>Required: {@code name}, {@code format} ({@code onnx} or {@code ort}). Everything else has a
 * default so that a hand-made card still loads: {@code width_mult}/{@code depth_mult} 1.0,
 * {@code precision} "fp32", {@code bytes} -1 (unknown), {@code max_length} 128,
 * {@code do_lower_case} true, {@code strip_accents} null (follow lower-casing),
 * {@code tokenize_chinese_chars} true, {@code inputs} the three BERT inputs, {@code input_dtype}
 * "int64", {@code output} "logits", {@code pad_to_max_length} false, {@code model_file}
 * "model.&lt;format&gt;". The metric is {@code "metric": {"name": ..., "value": ...}} (flat
 * {@code metric_name}/{@code metric_value} are accepted too). The task's shape: {@code pair} (two text
 * inputs, token types 0 and 1; default false), {@code regression} (one output, a score instead of class
 * probabilities; default false) and, for regression, {@code score_range} {@code [low, high]} (the label
 * scale, e.g. [0, 5] for STS-B; optional). {@code bundle}: the index of a shared-weight bundle of
 * sub-networks ({@code "bundle.int8/bundle.json"}, see {@link BundleIndex}); with it the folder needs no
 * single model file, {@code format} defaults to (and must be) "onnx". Unknown fields are ignored.
 */
public final class ModelCard {
    public final String name;
    public final double widthMult;
    public final double depthMult;
    /** "onnx" or "ort". */
    public final String format;
    public final String precision;
    /** Size of the model file in bytes, -1 when the card does not say. */
    public final long bytes;
    public final int maxLength;
    public final boolean doLowerCase;
    public final Boolean stripAccents;
    public final boolean tokenizeChineseChars;
    public final String metricName;
    /** NaN when the card has no metric. */
    public final double metricValue;
    public final List<String> inputs;
    /** "int64" or "int32". */
    public final String inputDtype;
    public final String output;
    public final boolean padToMaxLength;
    public final String modelFile;
    public final String task;
    /** The task takes a sentence pair: the screen shows two text fields. */
    public final boolean pair;
    /** One output, a score: the screen shows the score, not class probabilities. */
    public final boolean regression;
    /** The label scale of a regression task; NaN when the card does not say. */
    public final double scoreLow;
    public final double scoreHigh;
    /**
     * The shared-weight bundle's index inside the model folder ({@code "bundle.int8/bundle.json"}), or
     * null for a single model. A relative path of plain names (checked): it never leaves the folder.
     */
    public final String bundle;
    /**
     * ONNX Runtime session settings the export measured for this file (card key {@code "onnxruntime"}:
     * {@code graph_optimization_level} and {@code config_entries}); the level is one of
     * {@link #ORT_LEVELS}, the entries only keys in {@link #ORT_CONFIG_KEYS} (the card is read from assets,
     * but an app should not pass arbitrary runtime switches on). Defaults: ORT_ENABLE_ALL, no entries.
     */
    public final String ortOptimizationLevel;
    public final Map<String, String> ortConfigEntries;

    public static final List<String> ORT_LEVELS = Collections.unmodifiableList(java.util.Arrays.asList(
            "ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"));
    public static final List<String> ORT_CONFIG_KEYS = Collections.unmodifiableList(java.util.Arrays.asList(
            "optimization.disable_specified_optimizers"));

    private ModelCard(Map<String, Object> m) {
        name = Json.getString(m, "name", null);
        if (name == null || name.trim().isEmpty()) {
            throw new IllegalArgumentException("model_card.json: 'name' is required");
        }
        bundle = Json.getString(m, "bundle", null);
        if (bundle != null) {
            BundleIndex.relativePath(bundle, "model_card.json: 'bundle'");
        }
        // A bundle's graphs read their weights through ONNX external data, which only .onnx can hold.
        String fmt = Json.getString(m, "format", bundle != null ? "onnx" : null);
        if (bundle != null && !"onnx".equalsIgnoreCase(fmt)) {
            throw new IllegalArgumentException("model_card.json: a bundle is ONNX (its graphs use external data);"
                    + " format must be onnx, not '" + fmt + "'");
        }
        if (fmt == null) {
            throw new IllegalArgumentException("model_card.json: 'format' is required (onnx or ort)");
        }
        format = fmt.toLowerCase(Locale.ROOT);
        if (!format.equals("onnx") && !format.equals("ort")) {
            throw new IllegalArgumentException("model_card.json: format must be onnx or ort, not '" + fmt + "'");
        }
        widthMult = Json.getDouble(m, "width_mult", 1.0);
        depthMult = Json.getDouble(m, "depth_mult", 1.0);
        precision = Json.getString(m, "precision", "fp32");
        bytes = Json.getLong(m, "bytes", -1L);
        long ml = Json.getLong(m, "max_length", 128L);
        if (ml < 3 || ml > 1_000_000L) {
            throw new IllegalArgumentException("model_card.json: max_length must be at least 3, got " + ml);
        }
        maxLength = (int) ml;
        Boolean lc = Json.getBoolean(m, "do_lower_case");
        doLowerCase = lc == null || lc.booleanValue();
        stripAccents = Json.getBoolean(m, "strip_accents");
        Boolean cjk = Json.getBoolean(m, "tokenize_chinese_chars");
        tokenizeChineseChars = cjk == null || cjk.booleanValue();

        String mName = null;
        double mValue = Double.NaN;
        Object metric = m.get("metric");
        if (metric instanceof Map) {
            Map<String, Object> mm = Json.asObject(metric, "metric");
            mName = Json.getString(mm, "name", null);
            mValue = Json.getDouble(mm, "value", Double.NaN);
        } else if (metric instanceof String) {
            mName = (String) metric;
        }
        if (mName == null) {
            mName = Json.getString(m, "metric_name", null);
        }
        if (Double.isNaN(mValue)) {
            mValue = Json.getDouble(m, "metric_value", Double.NaN);
        }
        metricName = mName;
        metricValue = mValue;

        ArrayList<String> in = new ArrayList<String>();
        Object inputsValue = m.get("inputs");
        if (inputsValue == null) {
            inputsValue = m.get("input_names");
        }
        if (inputsValue == null) {
            in.add("input_ids");
            in.add("attention_mask");
            in.add("token_type_ids");
        } else {
            for (Object o : Json.asArray(inputsValue, "model_card.json inputs")) {
                if (!(o instanceof String)) {
                    throw new IllegalArgumentException("model_card.json: inputs must be strings");
                }
                in.add((String) o);
            }
        }
        inputs = Collections.unmodifiableList(in);
        String dt = Json.getString(m, "input_dtype", "int64").toLowerCase(Locale.ROOT);
        if (!dt.equals("int64") && !dt.equals("int32")) {
            throw new IllegalArgumentException("model_card.json: input_dtype must be int64 or int32, not '" + dt + "'");
        }
        inputDtype = dt;
        output = Json.getString(m, "output", "logits");
        Boolean pad = Json.getBoolean(m, "pad_to_max_length");
        padToMaxLength = pad != null && pad.booleanValue();
        modelFile = Json.getString(m, "model_file", "model." + format);
        task = Json.getString(m, "task", null);
        Boolean isPair = Json.getBoolean(m, "pair");
        pair = isPair != null && isPair.booleanValue();
        Boolean isRegression = Json.getBoolean(m, "regression");
        regression = isRegression != null && isRegression.booleanValue();
        Object range = m.get("score_range");
        if (range == null) {
            scoreLow = Double.NaN;
            scoreHigh = Double.NaN;
        } else {
            List<Object> r = Json.asArray(range, "model_card.json score_range");
            if (!regression || r.size() != 2 || !(r.get(0) instanceof Number) || !(r.get(1) instanceof Number)
                    || !(((Number) r.get(0)).doubleValue() < ((Number) r.get(1)).doubleValue())) {
                throw new IllegalArgumentException("model_card.json: score_range must be [low, high] with low < high,"
                        + " on a regression card");
            }
            scoreLow = ((Number) r.get(0)).doubleValue();
            scoreHigh = ((Number) r.get(1)).doubleValue();
        }
        Map<String, String> entries = new java.util.LinkedHashMap<String, String>();
        Object ort = m.get("onnxruntime");
        if (ort == null) {
            ortOptimizationLevel = "ORT_ENABLE_ALL";
        } else {
            Map<String, Object> o = Json.asObject(ort, "model_card.json onnxruntime");
            ortOptimizationLevel = Json.getString(o, "graph_optimization_level", "ORT_ENABLE_ALL");
            if (!ORT_LEVELS.contains(ortOptimizationLevel)) {
                throw new IllegalArgumentException("model_card.json: onnxruntime.graph_optimization_level must be one of "
                        + ORT_LEVELS + ", got '" + ortOptimizationLevel + "'");
            }
            Object ce = o.get("config_entries");
            if (ce != null) {
                for (Map.Entry<String, Object> e : Json.asObject(ce, "model_card.json onnxruntime.config_entries").entrySet()) {
                    if (!ORT_CONFIG_KEYS.contains(e.getKey()) || !(e.getValue() instanceof String)) {
                        throw new IllegalArgumentException("model_card.json: onnxruntime.config_entries: '" + e.getKey()
                                + "' is not a supported string entry (supported: " + ORT_CONFIG_KEYS + ")");
                    }
                    entries.put(e.getKey(), (String) e.getValue());
                }
            }
        }
        ortConfigEntries = Collections.unmodifiableMap(entries);
    }

    /** "3.42 (on 0-5)" for a regression score. */
    public String formatScore(double score) {
        if (Double.isNaN(scoreLow)) {
            return String.format(Locale.ROOT, "%.2f", score);
        }
        return String.format(Locale.ROOT, "%.2f (on %s-%s)", score, trim(scoreLow), trim(scoreHigh));
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    public static ModelCard parse(String json) {
        return new ModelCard(Json.asObject(Json.parse(json), "model_card.json"));
    }

    /** A tokenizer configured as the card says. */
    public BertTokenizer tokenizer(Vocab vocab) {
        return new BertTokenizer(vocab, doLowerCase, stripAccents, tokenizeChineseChars);
    }

    /** "w0.50 d0.75 · ORT int8 · 12.3 MB" for the screen. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "width %.2f · depth %.2f · %s %s",
                widthMult, depthMult, format.toUpperCase(Locale.ROOT), precision));
        if (bytes >= 0) {
            sb.append(" · ").append(formatBytes(bytes));
        }
        if (metricName != null && !Double.isNaN(metricValue)) {
            sb.append(String.format(Locale.ROOT, " · %s %.3f", metricName, metricValue));
        }
        return sb.toString();
    }

    public static String formatBytes(long b) {
        if (b < 1024) {
            return b + " B";
        }
        if (b < 1024L * 1024L) {
            return String.format(Locale.ROOT, "%.1f KB", b / 1024.0);
        }
        return String.format(Locale.ROOT, "%.1f MB", b / (1024.0 * 1024.0));
    }
}

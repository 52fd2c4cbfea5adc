package org.dynabert.edge.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Build;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.util.Log;
import android.view.WindowManager;
import android.widget.TextView;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.dynabert.edge.core.AutoMode;
import org.dynabert.edge.core.AutoPolicy;
import org.dynabert.edge.core.Benchmark;
import org.dynabert.edge.core.BundleIndex;
import org.dynabert.edge.core.Classification;
import org.dynabert.edge.core.Json;
import org.dynabert.edge.core.LatencyStats;
import org.dynabert.edge.core.ModelCard;
import org.dynabert.edge.core.SwitchLog;

/**
 * Benchmark mode for {@code device_bench}: runs every bundled model (or the ones named) R times and
 * writes one JSON result file.
 *
 * <pre>
 * adb shell am start -W -n org.dynabert.edge.demo/.BenchmarkActivity \
 *     --es runs 50 --es warmup 5 --es threads 4 --es models all --es out bench_result.json
 * # wait for the logcat line "DYNABERT_BENCH_DONE &lt;path&gt;" (tag DynaBertBench), then
 * adb pull /sdcard/Android/data/org.dynabert.edge.demo/files/bench_result.json
 * </pre>
 *
 * Extras may be strings ({@code --es}) or ints ({@code --ei}). {@code models} is "all" or a comma
 * separated list of folder names under assets/models; {@code text} replaces the built-in texts;
 * {@code finish} ("true") closes the activity when done. The file is written to a temporary name and
 * renamed, so a pulled file is always complete.
 *
 * <p>A folder whose card names a shared-weight bundle is reported under {@code "bundles"}: every entry
 * measured like a model (its session created on demand, the switch timed), then switches between two
 * sessions kept open, then, with {@code budget_ms}, auto mode for {@code runs} runs.
 */
public class BenchmarkActivity extends Activity {
    static final String TAG = "DynaBertBench";
    static final String DONE_MARKER = "DYNABERT_BENCH_DONE";
    static final String FAILED_MARKER = "DYNABERT_BENCH_FAILED";
    static final String DEFAULT_OUT = "bench_result.json";

    private final Handler main = new Handler(Looper.getMainLooper());
    private TextView log;
    private volatile boolean cancelled;
    private Thread runner;
    /** The ONNX Runtime version a bundle's session reported (benchmark thread only). */
    private String bundleRuntimeVersion;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_benchmark);
        log = (TextView) findViewById(R.id.bench_log);
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
        start(getIntent());
    }

    private void start(Intent intent) {
        final Bundle extras = intent != null && intent.getExtras() != null ? intent.getExtras() : new Bundle();
        runner = new Thread(new Runnable() {
            @Override
            public void run() {
                runBenchmark(extras);
            }
        }, "dynabert-benchmark");
        runner.start();
    }

    private void runBenchmark(Bundle extras) {
        long started = System.currentTimeMillis();
        File outFile = null;
        try {
            File dir = getExternalFilesDir(null);
            if (dir == null) {
                dir = getFilesDir();
            }
            String outName = stringExtra(extras, "out", DEFAULT_OUT);
            if (outName.isEmpty() || outName.contains("/") || outName.contains("\\") || outName.startsWith(".")) {
                outFile = new File(dir, DEFAULT_OUT);
                throw new IllegalArgumentException("'out' must be a plain file name, got '" + outName + "'");
            }
            outFile = new File(dir, outName);
            int runs = intExtra(extras, "runs", 50, 1, 100000);
            int warmup = intExtra(extras, "warmup", 5, 0, 100000);
            int threads = intExtra(extras, "threads", 0, 0, 64);
            String text = stringExtra(extras, "text", null);
            String[] texts = text != null && !text.isEmpty() ? new String[] {text} : Benchmark.DEFAULT_TEXTS;

            List<String> available = ModelAssets.list(getAssets());
            List<String> selected = new ArrayList<String>();
            String wanted = stringExtra(extras, "models", "all");
            if (wanted.equals("all")) {
                selected.addAll(available);
            } else {
                for (String w : wanted.split(",")) {
                    String name = w.trim();
                    if (!name.isEmpty()) {
                        selected.add(name);
                    }
                }
            }
            say(String.format(Locale.ROOT, "runs %d, warmup %d, threads %s, %d model(s), %d text(s)\n-> %s",
                    runs, warmup, threads == 0 ? "default" : Integer.toString(threads), selected.size(),
                    texts.length, outFile));

            double budgetMs = doubleExtra(extras, "budget_ms", 0);
            List<Map<String, Object>> results = new ArrayList<Map<String, Object>>();
            List<Map<String, Object>> bundles = new ArrayList<Map<String, Object>>();
            String runtimeVersion = null;
            for (final String folder : selected) {
                if (cancelled) {
                    break;
                }
                ModelCard card = null;
                LoadedModel m = null;
                try {
                    if (!available.contains(folder)) {
                        throw new IllegalArgumentException("no folder assets/models/" + folder + "; have " + available);
                    }
                    card = LoadedModel.readCard(getAssets(), folder);
                    if (card.bundle != null) {
                        bundles.add(benchBundle(folder, card, runs, warmup, threads, texts, budgetMs));
                        if (bundleRuntimeVersion != null) {
                            runtimeVersion = bundleRuntimeVersion;
                        }
                        continue;
                    }
                    say("loading " + folder + " …");
                    m = LoadedModel.load(this, folder, threads);
                    runtimeVersion = m.model.runtimeVersion();
                    final String name = folder;
                    Benchmark.ModelRun run = Benchmark.run(m.classifier, texts, warmup, runs, new Benchmark.Progress() {
                        @Override
                        public boolean onRun(int done, int total) {
                            if (done == total || done % 10 == 0) {
                                say("  " + name + ": " + done + "/" + total);
                            }
                            return !cancelled;
                        }
                    });
                    Map<String, Object> entry = Benchmark.modelEntry(m.card, m.loadMillis, run);
                    entry.put("folder", folder);
                    entry.put("inputs", m.model.feeds());
                    entry.put("input_dtype", m.model.int32Inputs() ? "int32" : "int64");
                    entry.put("padded_to_max_length", Boolean.valueOf(m.padded));
                    results.add(entry);
                    Object median = ((Map<?, ?>) entry.get("model_ms")).get("median");
                    say(String.format(Locale.ROOT, "  %s: model median %.2f ms", folder, ((Number) median).doubleValue()));
                } catch (Throwable t) {
                    Log.w(TAG, "model " + folder + " failed", t);
                    results.add(Benchmark.failedEntry(folder, card, t));
                    say("  " + folder + " FAILED: " + Errors.describe(t));
                } finally {
                    if (m != null) {
                        m.close();
                    }
                }
            }

            Map<String, Object> settings = new LinkedHashMap<String, Object>();
            settings.put("runs", Integer.valueOf(runs));
            settings.put("warmup", Integer.valueOf(warmup));
            settings.put("threads", Integer.valueOf(threads));
            settings.put("models", selected);
            settings.put("texts", Arrays.asList(texts));
            settings.put("budget_ms", budgetMs > 0 ? Double.valueOf(budgetMs) : null);
            settings.put("cancelled", Boolean.valueOf(cancelled));
            Map<String, Object> runtime = new LinkedHashMap<String, Object>();
            runtime.put("name", "onnxruntime-android");
            runtime.put("version", runtimeVersion);
            String json = Benchmark.report(deviceInfo(), runtime, settings, results, bundles, started,
                    System.currentTimeMillis());
            writeAtomically(outFile, json);
            Log.i(TAG, DONE_MARKER + " " + outFile.getAbsolutePath());
            say("done: " + outFile.getAbsolutePath());
        } catch (Throwable t) {
            // Still leave a result file behind when we know where it goes, so device_bench can report why.
            if (outFile != null) {
                Map<String, Object> err = new LinkedHashMap<String, Object>();
                err.put("schema", Benchmark.SCHEMA);
                err.put("status", "error");
                err.put("error", Errors.describe(t));
                err.put("started_at_ms", Long.valueOf(started));
                err.put("finished_at_ms", Long.valueOf(System.currentTimeMillis()));
                try {
                    writeAtomically(outFile, Json.writePretty(err, 2) + "\n");
                } catch (IOException ignored) {
                    // The logcat marker below is then the only signal.
                }
            }
            Log.e(TAG, FAILED_MARKER + " " + Errors.describe(t), t);
            say("FAILED: " + Errors.describe(t));
        }
        if ("true".equals(stringExtra(extras, "finish", "false"))) {
            main.post(new Runnable() {
                @Override
                public void run() {
                    finish();
                }
            });
        }
    }

    /**
     * One bundle folder: unpack (or verify) it, then each entry with one session at a time (the switch
     * to it timed: session creation + first run), then switches between two sessions kept open, then
     * auto mode when a budget is given. An entry that fails is reported and the others still run.
     */
    private Map<String, Object> benchBundle(String folder, ModelCard card, int runs, int warmup, int threads,
                                            String[] texts, double budgetMs) {
        Map<String, Object> b = new LinkedHashMap<String, Object>();
        b.put("folder", folder);
        b.put("name", card.name);
        b.put("index", card.bundle);
        LoadedBundle lb = null;
        try {
            say("bundle " + folder + ": unpacking / verifying …");
            lb = LoadedBundle.load(this, folder, card, threads, 1, texts[0]);
            BundleIndex index = lb.index();
            b.put("precision", index.precision);
            b.put("weights_bytes", Long.valueOf(index.weightsBytes));
            b.put("max_length", Integer.valueOf(lb.maxLength));
            Map<String, Object> copy = new LinkedHashMap<String, Object>();
            copy.put("copied", Boolean.valueOf(lb.copy.copied));
            copy.put("bytes", Long.valueOf(lb.copy.bytes));
            copy.put("ms", Double.valueOf(lb.copy.millis));
            b.put("unpack", copy);
            b.put("load_ms", Double.valueOf(lb.loadMillis));

            List<Object> entries = new ArrayList<Object>();
            double[] p50 = new double[index.size()];
            boolean allOk = true;
            for (int i = 0; i < index.size() && !cancelled; i++) {
                final BundleIndex.Entry e = index.entries.get(i);
                try {
                    SwitchLog.Event ev = lb.switcher.switchTo(i, "benchmark: entry " + (i + 1) + " of " + index.size());
                    EntrySession s = lb.current();
                    bundleRuntimeVersion = s.model.runtimeVersion();
                    Benchmark.ModelRun run = Benchmark.run(s.classifier, texts, warmup, runs, progress(e.name));
                    Map<String, Object> entry = Benchmark.bundleEntry(index, e, ev, run);
                    entry.put("inputs", s.model.feeds());
                    entry.put("input_dtype", s.model.int32Inputs() ? "int32" : "int64");
                    entry.put("padded_to_max_length", Boolean.valueOf(s.padded));
                    entries.add(entry);
                    p50[i] = classifyP50(run);
                    say(String.format(Locale.ROOT, "  %s: switch %.0f ms, model median %.2f ms", e.name,
                            ev == null ? 0.0 : ev.totalMs(), LatencyStats.ofNanos(run.modelNanos).median));
                } catch (Throwable t) {
                    Log.w(TAG, "bundle entry " + e.name + " failed", t);
                    allOk = false;
                    entries.add(Benchmark.failedBundleEntry(e, t));
                    say("  " + e.name + " FAILED: " + Errors.describe(t));
                }
            }
            b.put("entries", entries);
            lb.close();
            lb = null;
            if (allOk && !cancelled && index.size() >= 2) {
                b.put("kept_open_switches", keptOpenSwitches(folder, card, threads, texts, runs));
            }
            if (allOk && !cancelled && budgetMs > 0) {
                b.put("auto", autoRun(folder, card, threads, texts, runs, p50, budgetMs));
            }
            b.put("status", allOk && !cancelled ? "ok" : "partial");
            b.put("error", null);
        } catch (Throwable t) {
            Log.w(TAG, "bundle " + folder + " failed", t);
            b.put("status", "error");
            b.put("error", Errors.describe(t));
            say("  bundle " + folder + " FAILED: " + Errors.describe(t));
        } finally {
            if (lb != null) {
                lb.close();
            }
        }
        return b;
    }

    /**
     * The largest and the smallest entry both open: switch between them {@code min(runs, 20)} times and
     * time the first classification after each switch (a switch itself is a pointer swap; what it costs
     * is a first run on a session whose memory has gone cold).
     */
    private Map<String, Object> keptOpenSwitches(String folder, ModelCard card, int threads, String[] texts, int runs)
            throws Exception {
        LoadedBundle lb = LoadedBundle.load(this, folder, card, threads, 2, texts[0]);
        try {
            int last = lb.index().size() - 1;
            lb.switcher.switchTo(0, "benchmark: open the largest");
            lb.switcher.switchTo(last, "benchmark: open the smallest");
            int n = Math.min(runs, 20);
            double[] firstRun = new double[n];
            for (int i = 0; i < n && !cancelled; i++) {
                lb.switcher.switchTo(i % 2 == 0 ? 0 : last, "benchmark: switch between sessions kept open");
                Classification c = lb.current().classifier.classify(texts[i % texts.length]);
                firstRun[i] = c.tokenizeMillis() + c.modelMillis();
            }
            Map<String, Object> m = new LinkedHashMap<String, Object>();
            m.put("between", Arrays.asList(lb.index().entries.get(0).name, lb.index().entries.get(last).name));
            m.put("first_run_after_switch_ms", LatencyStats.ofMillis(firstRun).toMap());
            m.put("switches", lb.switcher.log().toMap());
            return m;
        } finally {
            lb.close();
        }
    }

    /**
     * Auto mode for {@code runs} classifications, starting from the p50s measured above (tokenizer +
     * model, what auto mode feeds): which entries ran, every switch and why.
     */
    private Map<String, Object> autoRun(String folder, ModelCard card, int threads, String[] texts, int runs,
                                        double[] p50, double budgetMs) throws Exception {
        say(String.format(Locale.ROOT, "  auto mode, budget %.1f ms, %d runs", budgetMs, runs));
        LoadedBundle lb = LoadedBundle.load(this, folder, card, threads, LoadedBundle.KEEP_SESSIONS, texts[0]);
        try {
            AutoMode<EntrySession> auto = new AutoMode<EntrySession>(lb.switcher, p50, budgetMs,
                    AutoMode.DEFAULT_WINDOW, AutoMode.DEFAULT_UP_MARGIN);
            Map<String, Object> perEntry = new LinkedHashMap<String, Object>();
            double[] ms = new double[runs];
            int done = 0;
            for (int i = 0; i < runs && !cancelled; i++) {
                EntrySession s = lb.current();
                Classification c = s.classifier.classify(texts[i % texts.length]);
                ms[i] = c.tokenizeMillis() + c.modelMillis();
                Object n = perEntry.get(s.entry.name);
                perEntry.put(s.entry.name, Integer.valueOf(n == null ? 1 : ((Integer) n).intValue() + 1));
                AutoPolicy.Decision d = auto.afterRun(ms[i]);
                if (d.switched) {
                    say("  auto: " + d.reason);
                }
                done++;
            }
            Map<String, Object> m = auto.toMap();
            m.put("runs", Integer.valueOf(done));
            m.put("runs_per_entry", perEntry);
            if (done > 0) {
                m.put("total_ms", LatencyStats.ofMillis(Arrays.copyOf(ms, done)).toMap());
            }
            m.put("switches", lb.switcher.log().toMap());
            return m;
        } finally {
            lb.close();
        }
    }

    /** The p50 of tokenizer + model time over a run: the quantity auto mode measures on screen. */
    private static double classifyP50(Benchmark.ModelRun run) {
        double[] ms = new double[run.modelNanos.length];
        for (int i = 0; i < ms.length; i++) {
            ms[i] = (run.tokenizeNanos[i] + run.modelNanos[i]) / 1e6;
        }
        return LatencyStats.ofMillis(ms).median;
    }

    private Benchmark.Progress progress(final String name) {
        return new Benchmark.Progress() {
            @Override
            public boolean onRun(int done, int total) {
                if (done == total || done % 10 == 0) {
                    say("  " + name + ": " + done + "/" + total);
                }
                return !cancelled;
            }
        };
    }

    private Map<String, Object> deviceInfo() {
        Map<String, Object> d = new LinkedHashMap<String, Object>();
        d.put("manufacturer", Build.MANUFACTURER);
        d.put("model", Build.MODEL);
        d.put("device", Build.DEVICE);
        d.put("hardware", Build.HARDWARE);
        d.put("sdk_int", Integer.valueOf(Build.VERSION.SDK_INT));
        d.put("release", Build.VERSION.RELEASE);
        d.put("abis", Arrays.asList(Build.SUPPORTED_ABIS));
        d.put("cores", Integer.valueOf(Runtime.getRuntime().availableProcessors()));
        d.put("max_heap_bytes", Long.valueOf(Runtime.getRuntime().maxMemory()));
        // Build.SOC_MODEL is API 31; read it reflectively so the app still compiles against API 23.
        try {
            d.put("soc_model", Build.class.getField("SOC_MODEL").get(null));
        } catch (Exception absent) {
            d.put("soc_model", null);
        }
        return d;
    }

    private static void writeAtomically(File target, String text) throws IOException {
        File tmp = new File(target.getParentFile(), target.getName() + ".tmp");
        Writer w = new OutputStreamWriter(new FileOutputStream(tmp), "UTF-8");
        try {
            w.write(text);
        } finally {
            w.close();
        }
        if (target.exists() && !target.delete()) {
            throw new IOException("cannot replace " + target);
        }
        if (!tmp.renameTo(target)) {
            throw new IOException("cannot rename " + tmp + " to " + target);
        }
    }

    static String stringExtra(Bundle extras, String key, String def) {
        Object v = extras.get(key);
        return v == null ? def : String.valueOf(v);
    }

    /** A number extra > 0 (e.g. a budget in ms); {@code def} when absent. */
    static double doubleExtra(Bundle extras, String key, double def) {
        Object v = extras.get(key);
        if (v == null) {
            return def;
        }
        double d;
        try {
            d = v instanceof Number ? ((Number) v).doubleValue() : Double.parseDouble(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("extra '" + key + "' must be a number, got '" + v + "'");
        }
        if (!(d > 0) || Double.isInfinite(d)) {
            throw new IllegalArgumentException("extra '" + key + "' must be a number > 0, got " + v);
        }
        return d;
    }

    static int intExtra(Bundle extras, String key, int def, int min, int max) {
        Object v = extras.get(key);
        if (v == null) {
            return def;
        }
        int n;
        try {
            n = v instanceof Number ? ((Number) v).intValue() : Integer.parseInt(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("extra '" + key + "' must be an integer, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw new IllegalArgumentException("extra '" + key + "' must be in [" + min + ", " + max + "], got " + n);
        }
        return n;
    }

    private void say(final String line) {
        Log.i(TAG, line);
        main.post(new Runnable() {
            @Override
            public void run() {
                log.append(line + "\n");
            }
        });
    }

    @Override
    protected void onDestroy() {
        cancelled = true;
        main.removeCallbacksAndMessages(null);
        super.onDestroy();
    }
}

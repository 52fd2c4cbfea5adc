package org.dynabert.edge.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.CheckBox;
import android.widget.CompoundButton;
import android.widget.EditText;
import android.widget.ProgressBar;
import android.widget.Spinner;
import android.widget.TextView;

import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.dynabert.edge.core.AutoMode;
import org.dynabert.edge.core.Benchmark;
import org.dynabert.edge.core.BundleIndex;
import org.dynabert.edge.core.Classification;
import org.dynabert.edge.core.Json;
import org.dynabert.edge.core.LatencyStats;
import org.dynabert.edge.core.ModelCard;
import org.dynabert.edge.core.SwitchLog;
import org.dynabert.edge.core.TextClassifier;

/**
 * The demo screen: a text box, Classify, the label with its probability, tokenizer and model times, and
 * the loaded sub-model; a picker when several models are bundled. For a shared-weight bundle (the card
 * names one) a second picker switches the sub-network (width x depth) without a restart, or hands the
 * choice to auto mode: a latency budget, every entry measured at start, then the largest entry that
 * meets the budget, stepping down and back up as the measured latency changes ({@link AutoMode}). The
 * screen shows the running sub-network, its measured latency and why it last switched.
 *
 * <p>All model work runs on one background thread; results come back through a main-thread handler. A
 * generation counter drops results that belong to a model the user has switched away from.
 */
public class MainActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final Handler main = new Handler(Looper.getMainLooper());

    private Spinner picker;
    private View pickerRow;
    private TextView modelInfo;
    private EditText input;
    /** The second sentence, shown only when the model card says the task takes pairs. */
    private EditText inputPair;
    private Button classify;
    private ProgressBar progress;
    private TextView resultLabel;
    private TextView resultProbs;
    private TextView timing;
    private TextView message;
    private View bundleRow;
    private Spinner subnetPicker;
    private View autoRow;
    private EditText budgetInput;
    private Button applyBudget;
    private CheckBox continuous;
    private TextView subnetStatus;

    private final List<String> folders = new ArrayList<String>();
    /** Touched only on the worker thread. */
    private LoadedModel loaded;
    /** The loaded bundle, when the selected folder holds one; worker thread only. */
    private LoadedBundle bundle;
    /** Auto mode over {@link #bundle}, null in manual mode; worker thread only. */
    private AutoMode<EntrySession> auto;
    /** Each bundle entry's p50 measured when auto mode first started; reused when the budget changes. */
    private double[] startP50;
    /** The last manual-mode runs of the running entry, for its p50 on screen; worker thread only. */
    private final LinkedList<Double> recentManual = new LinkedList<Double>();
    /** The card of the model on screen (UI thread). */
    private ModelCard shownCard;
    /** The sub-network picker position on screen: 0 auto, i + 1 entry i (UI thread). */
    private int subnetChoice = -1;
    /** Classifies the text again after each result while "Classify continuously" is ticked. */
    private final Runnable loop = new Runnable() {
        @Override
        public void run() {
            if (isFinishing() || !continuous.isChecked()) {
                return;
            }
            if (busy || !ready) {
                main.postDelayed(this, LOOP_DELAY_MS);
                return;
            }
            onClassify();
        }
    };
    /** Pause between continuous runs: lets the UI breathe; auto mode sees the phone's load, not ours. */
    static final long LOOP_DELAY_MS = 150;
    /** Runs of the running entry shown as its p50 in manual mode. */
    static final int MANUAL_WINDOW = AutoMode.DEFAULT_WINDOW;
    /** Bumped (on the UI thread) whenever the selected model changes. */
    private int generation;
    private boolean ready;
    private boolean busy;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        Intent intent = getIntent();
        if (intent != null && "benchmark".equals(intent.getStringExtra("mode"))) {
            // `am start -n .../.MainActivity --es mode benchmark ...` is accepted too.
            Intent bench = new Intent(this, BenchmarkActivity.class);
            if (intent.getExtras() != null) {
                bench.putExtras(intent.getExtras());
            }
            startActivity(bench);
            finish();
            return;
        }
        setContentView(R.layout.activity_main);
        picker = (Spinner) findViewById(R.id.model_picker);
        pickerRow = findViewById(R.id.picker_row);
        modelInfo = (TextView) findViewById(R.id.model_info);
        input = (EditText) findViewById(R.id.input);
        inputPair = (EditText) findViewById(R.id.input_pair);
        classify = (Button) findViewById(R.id.classify);
        progress = (ProgressBar) findViewById(R.id.progress);
        resultLabel = (TextView) findViewById(R.id.result_label);
        resultProbs = (TextView) findViewById(R.id.result_probs);
        timing = (TextView) findViewById(R.id.timing);
        message = (TextView) findViewById(R.id.message);
        bundleRow = findViewById(R.id.bundle_row);
        subnetPicker = (Spinner) findViewById(R.id.subnet_picker);
        autoRow = findViewById(R.id.auto_row);
        budgetInput = (EditText) findViewById(R.id.budget);
        applyBudget = (Button) findViewById(R.id.apply_budget);
        continuous = (CheckBox) findViewById(R.id.continuous);
        subnetStatus = (TextView) findViewById(R.id.subnet_status);

        applyBudget.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                startAuto();
            }
        });
        continuous.setOnCheckedChangeListener(new CompoundButton.OnCheckedChangeListener() {
            @Override
            public void onCheckedChanged(CompoundButton button, boolean checked) {
                main.removeCallbacks(loop);
                if (checked) {
                    main.post(loop);
                }
            }
        });
        classify.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                onClassify();
            }
        });
        discoverModels();
    }

    private void discoverModels() {
        setBusy(true);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                final List<String> found = new ArrayList<String>();
                final List<String> titles = new ArrayList<String>();
                String error = null;
                try {
                    for (String f : ModelAssets.list(getAssets())) {
                        found.add(f);
                        String title = f;
                        try {
                            ModelCard c = LoadedModel.readCard(getAssets(), f);
                            title = c.bundle != null
                                    ? c.name + String.format(Locale.ROOT, " (bundle, %s %s)", c.format, c.precision)
                                    : c.name + String.format(Locale.ROOT, " (w%.2f d%.2f %s %s)",
                                    c.widthMult, c.depthMult, c.format, c.precision);
                        } catch (Exception bad) {
                            title = f + " (bad model_card.json)";
                        }
                        titles.add(title);
                    }
                } catch (Throwable t) {
                    error = Errors.describe(t);
                }
                final String err = error;
                main.post(new Runnable() {
                    @Override
                    public void run() {
                        onModelsFound(found, titles, err);
                    }
                });
            }
        });
    }

    private void onModelsFound(List<String> found, List<String> titles, String error) {
        if (isFinishing()) {
            return;
        }
        setBusy(false);
        folders.clear();
        folders.addAll(found);
        if (error != null) {
            modelInfo.setText("");
            message.setText(error);
            return;
        }
        if (folders.isEmpty()) {
            modelInfo.setText(R.string.no_models);
            return;
        }
        ArrayAdapter<String> adapter = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, titles);
        adapter.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        picker.setAdapter(adapter);
        pickerRow.setVisibility(folders.size() > 1 ? View.VISIBLE : View.GONE);
        picker.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            @Override
            public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
                selectModel(position);
            }

            @Override
            public void onNothingSelected(AdapterView<?> parent) {
            }
        });
        selectModel(0);
    }

    private void selectModel(int position) {
        if (position < 0 || position >= folders.size()) {
            return;
        }
        final String folder = folders.get(position);
        final int gen = ++generation;
        ready = false;
        continuous.setChecked(false);
        clearResult();
        modelInfo.setText("Loading " + folder + "…");
        setBusy(true);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String error = null;
                String info = null;
                List<String> entries = null;
                try {
                    auto = null;
                    startP50 = null;
                    recentManual.clear();
                    if (loaded != null && loaded.folder.equals(folder)) {
                        info = describe(loaded);
                    } else if (bundle != null && bundle.folder.equals(folder)) {
                        // The picker starts on the largest entry again, so the bundle does too.
                        bundle.switcher.switchTo(0, "the largest sub-network, on loading");
                        info = bundle.describe();
                        entries = entryTitles(bundle.index());
                    } else {
                        closeLoaded();
                        ModelCard card = LoadedModel.readCard(getAssets(), folder);
                        if (card.bundle != null) {
                            bundle = LoadedBundle.load(MainActivity.this, folder, card, 0, LoadedBundle.KEEP_SESSIONS,
                                    Benchmark.DEFAULT_TEXTS[1]);
                            bundle.switcher.switchTo(0, "the largest sub-network, on loading");
                            info = bundle.describe();
                            entries = entryTitles(bundle.index());
                        } else {
                            loaded = LoadedModel.load(MainActivity.this, folder, 0);
                            info = describe(loaded);
                        }
                    }
                } catch (Throwable t) {
                    error = "Could not load " + folder + ": " + Errors.describe(t);
                }
                final ModelCard card = loaded != null ? loaded.card : bundle != null ? bundle.card : null;
                final List<String> subnets = entries;
                final String status = bundle != null && error == null ? bundleStatus(null) : null;
                final String e = error;
                final String i = info;
                main.post(new Runnable() {
                    @Override
                    public void run() {
                        if (gen != generation || isFinishing()) {
                            return;
                        }
                        setBusy(false);
                        if (e != null) {
                            modelInfo.setText(folder);
                            message.setText(e);
                            bundleRow.setVisibility(View.GONE);
                        } else {
                            modelInfo.setText(i);
                            shownCard = card;
                            inputPair.setVisibility(card != null && card.pair ? View.VISIBLE : View.GONE);
                            showSubnets(subnets, status);
                            ready = true;
                            classify.setEnabled(true);
                        }
                    }
                });
            }
        });
    }

    private static String describe(LoadedModel m) {
        return m.card.name + "\n" + m.card.summary() + "\n"
                + String.format(Locale.ROOT, "max length %d%s · inputs %s (%s) · loaded in %.0f ms",
                m.maxLength, m.padded ? " (padded)" : "", m.model.feeds(), m.model.int32Inputs() ? "int32" : "int64",
                m.loadMillis);
    }

    /** Closes whatever model or bundle is loaded (worker thread). */
    private void closeLoaded() {
        if (loaded != null) {
            loaded.close();
            loaded = null;
        }
        if (bundle != null) {
            bundle.close();
            bundle = null;
        }
        auto = null;
        startP50 = null;
    }

    private static List<String> entryTitles(BundleIndex index) {
        List<String> titles = new ArrayList<String>();
        for (BundleIndex.Entry e : index.entries) {
            String size = e.params >= 0 ? String.format(Locale.ROOT, " · %.1fM params", e.params / 1e6) : "";
            titles.add(e.name + " (" + e.label() + size + ")");
        }
        return titles;
    }

    /** Fills the sub-network picker for a bundle (auto first, then the entries); hides it otherwise. */
    private void showSubnets(List<String> entries, String status) {
        if (entries == null) {
            bundleRow.setVisibility(View.GONE);
            subnetChoice = -1;
            return;
        }
        List<String> choices = new ArrayList<String>();
        choices.add(getString(R.string.auto_choice));
        choices.addAll(entries);
        ArrayAdapter<String> adapter = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, choices);
        adapter.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        // Set before the adapter: the spinner reports its initial selection, which must not switch again.
        subnetChoice = 1;
        subnetPicker.setAdapter(adapter);
        subnetPicker.setSelection(1);
        subnetPicker.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            @Override
            public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
                onSubnetChosen(position);
            }

            @Override
            public void onNothingSelected(AdapterView<?> parent) {
            }
        });
        autoRow.setVisibility(View.GONE);
        subnetStatus.setText(status);
        bundleRow.setVisibility(View.VISIBLE);
    }

    private void onSubnetChosen(final int position) {
        if (position == subnetChoice) {
            return;
        }
        subnetChoice = position;
        if (position == 0) {
            autoRow.setVisibility(View.VISIBLE);
            startAuto();
            return;
        }
        autoRow.setVisibility(View.GONE);
        final int gen = generation;
        setBusy(true);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String error = null;
                try {
                    auto = null;
                    if (bundle == null) {
                        error = "No bundle is loaded.";
                    } else if (bundle.switcher.switchTo(position - 1, "chosen on screen") != null) {
                        recentManual.clear();
                    }
                } catch (Throwable t) {
                    error = "Could not switch to " + (bundle != null ? bundle.index().entries.get(position - 1).name
                            : "the sub-network") + ": " + Errors.describe(t);
                }
                postStatus(gen, error);
            }
        });
    }

    /** Auto mode with the budget typed: measures every entry first (once per loaded bundle). */
    private void startAuto() {
        if (!ready || subnetChoice < 0) {
            return;
        }
        final double budget;
        try {
            budget = Double.parseDouble(budgetInput.getText().toString().trim());
        } catch (NumberFormatException e) {
            message.setText("Type a latency budget in milliseconds (a number greater than 0).");
            return;
        }
        if (!(budget > 0) || Double.isInfinite(budget)) {
            message.setText("Type a latency budget in milliseconds (a number greater than 0).");
            return;
        }
        message.setText("");
        final String text = measuringText();
        String typedPair = inputPair.getText().toString();
        final String pair = shownCard == null || !shownCard.pair ? null
                : TextClassifier.checkInput(typedPair) == null ? typedPair : text;
        final int gen = generation;
        setBusy(true);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String error = null;
                try {
                    if (bundle == null) {
                        throw new IllegalStateException("no bundle is loaded");
                    }
                    if (startP50 == null) {
                        startP50 = AutoMode.measure(bundle.switcher, new AutoMode.Probe<EntrySession>() {
                            @Override
                            public double runMillis(EntrySession s) throws Exception {
                                Classification c = s.classifier.classify(text, pair);
                                return c.tokenizeMillis() + c.modelMillis();
                            }
                        }, AutoMode.DEFAULT_START_RUNS, new AutoMode.Progress() {
                            @Override
                            public boolean onEntry(final int done, final int total, final String name) {
                                main.post(new Runnable() {
                                    @Override
                                    public void run() {
                                        if (gen == generation) {
                                            subnetStatus.setText(String.format(Locale.ROOT,
                                                    "Auto mode: measuring %s (%d of %d, %d runs each)…", name,
                                                    done + 1, total, AutoMode.DEFAULT_START_RUNS));
                                        }
                                    }
                                });
                                return gen == generation && !isFinishing();
                            }
                        });
                    }
                    auto = new AutoMode<EntrySession>(bundle.switcher, startP50, budget, AutoMode.DEFAULT_WINDOW,
                            AutoMode.DEFAULT_UP_MARGIN);
                } catch (Throwable t) {
                    auto = null;
                    error = "Auto mode could not start: " + Errors.describe(t);
                }
                postStatus(gen, error);
            }
        });
    }

    /** The text auto mode measures with: what is typed, else a built-in sentence of medium length. */
    private String measuringText() {
        String typed = input.getText().toString();
        return TextClassifier.checkInput(typed) == null ? typed : Benchmark.DEFAULT_TEXTS[1];
    }

    /** Posts the sub-network status (and an error, if any) to the screen; called on the worker thread. */
    private void postStatus(final int gen, final String error) {
        final String status = bundleStatus(null);
        main.post(new Runnable() {
            @Override
            public void run() {
                if (gen != generation || isFinishing()) {
                    return;
                }
                setBusy(false);
                subnetStatus.setText(status);
                if (error != null) {
                    message.setText(error);
                }
            }
        });
    }

    /**
     * "running w0.5_d1 (w0.5 · d1) · last 12.3 ms · p50 11.8 ms over 5 runs · budget 30.0 ms" and the last
     * switch: why, and what it cost. Worker thread.
     */
    private String bundleStatus(Double lastMs) {
        if (bundle == null) {
            return "";
        }
        EntrySession s = bundle.current();
        StringBuilder sb = new StringBuilder();
        if (auto != null) {
            sb.append("Auto · running ").append(auto.status());
            if (!auto.ladder().dropped.isEmpty()) {
                sb.append("\nleft out of auto mode: ").append(Json.join("; ", auto.ladder().dropped));
            }
        } else if (s != null) {
            sb.append("running ").append(s.entry.name).append(" (").append(s.entry.label()).append(')');
            if (lastMs != null) {
                sb.append(String.format(Locale.ROOT, " · last %.1f ms", lastMs.doubleValue()));
            }
            if (recentManual.size() >= MANUAL_WINDOW) {
                double[] a = new double[recentManual.size()];
                for (int i = 0; i < a.length; i++) {
                    a[i] = recentManual.get(i).doubleValue();
                }
                sb.append(String.format(Locale.ROOT, " · p50 %.1f ms over %d runs", LatencyStats.ofMillis(a).median,
                        a.length));
            }
        }
        SwitchLog.Event last = bundle.switcher.log().last();
        if (last != null) {
            sb.append("\nlast switch: ").append(last.from == null ? "" : last.from + " → ").append(last.to)
                    .append(": ").append(last.reason).append(last.reused
                            ? " (session kept open: instant)"
                            : String.format(Locale.ROOT, " (session created in %.0f ms + first run %.0f ms)",
                            last.createMs, last.warmupMs));
        }
        return sb.toString();
    }

    private void onClassify() {
        if (!ready || busy) {
            return;
        }
        final String text = input.getText().toString();
        final boolean pair = inputPair.getVisibility() == View.VISIBLE;
        final String textPair = pair ? inputPair.getText().toString() : null;
        String problem = TextClassifier.checkInput(text);
        if (problem == null && pair && TextClassifier.checkInput(textPair) != null) {
            problem = "This model compares two sentences: type the second one too.";
        }
        if (problem != null) {
            clearResult();
            message.setText(problem);
            return;
        }
        final int gen = generation;
        setBusy(true);
        message.setText("");
        worker.execute(new Runnable() {
            @Override
            public void run() {
                Classification result = null;
                String error = null;
                String status = null;
                String ranOn = null;
                try {
                    if (bundle != null && bundle.current() != null) {
                        EntrySession s = bundle.current();
                        result = s.classifier.classify(text, textPair);
                        double ms = result.tokenizeMillis() + result.modelMillis();
                        ranOn = s.entry.name;
                        if (auto != null) {
                            auto.afterRun(ms);
                        } else {
                            recentManual.addLast(Double.valueOf(ms));
                            while (recentManual.size() > MANUAL_WINDOW) {
                                recentManual.removeFirst();
                            }
                        }
                        status = bundleStatus(Double.valueOf(ms));
                    } else if (loaded == null) {
                        error = "No model is loaded.";
                    } else {
                        result = loaded.classifier.classify(text, textPair);
                    }
                } catch (Throwable t) {
                    error = "Classification failed: " + Errors.describe(t);
                    status = bundle != null ? bundleStatus(null) : null;
                }
                final Classification r = result;
                final String e = error;
                final String st = status;
                final String by = ranOn;
                main.post(new Runnable() {
                    @Override
                    public void run() {
                        if (gen != generation || isFinishing()) {
                            return;
                        }
                        setBusy(false);
                        if (st != null) {
                            subnetStatus.setText(st);
                        }
                        if (e != null) {
                            clearResult();
                            message.setText(e);
                            continuous.setChecked(false);  // never loop on an error
                        } else {
                            showResult(r);
                            if (by != null) {
                                timing.append(" · by " + by);
                            }
                            if (continuous.isChecked()) {
                                main.postDelayed(loop, LOOP_DELAY_MS);
                            }
                        }
                    }
                });
            }
        });
    }

    private void showResult(Classification c) {
        if (c.regression) {
            // A score, not a class: show it on the task's label scale from the model card.
            resultLabel.setText("score " + (shownCard != null ? shownCard.formatScore(c.score)
                    : String.format(Locale.ROOT, "%.2f", c.score)));
            resultProbs.setText("");
            timing.setText(String.format(Locale.ROOT, "tokenize %.2f ms · model %.2f ms · %d tokens",
                    c.tokenizeMillis(), c.modelMillis(), c.sequenceLength));
            message.setText(c.note == null ? "" : c.note);
            return;
        }
        resultLabel.setText(String.format(Locale.ROOT, "%s  %.1f%%", c.label, 100.0 * c.probability));
        StringBuilder probs = new StringBuilder();
        for (int i = 0; i < c.probabilities.length; i++) {
            if (i > 0) {
                probs.append(" · ");
            }
            probs.append(String.format(Locale.ROOT, "%s %.3f", c.labelNames.get(i), c.probabilities[i]));
        }
        resultProbs.setText(probs.toString());
        timing.setText(String.format(Locale.ROOT, "tokenize %.2f ms · model %.2f ms · %d tokens",
                c.tokenizeMillis(), c.modelMillis(), c.sequenceLength));
        message.setText(c.note == null ? "" : c.note);
    }

    private void clearResult() {
        resultLabel.setText("");
        resultProbs.setText("");
        timing.setText("");
        message.setText("");
    }

    private void setBusy(boolean b) {
        busy = b;
        progress.setVisibility(b ? View.VISIBLE : View.GONE);
        classify.setEnabled(!b && ready);
        picker.setEnabled(!b);
        subnetPicker.setEnabled(!b);
        applyBudget.setEnabled(!b);
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        worker.execute(new Runnable() {
            @Override
            public void run() {
                closeLoaded();
            }
        });
        worker.shutdown();
        main.removeCallbacks(loop);
        main.removeCallbacksAndMessages(null);
    }
}

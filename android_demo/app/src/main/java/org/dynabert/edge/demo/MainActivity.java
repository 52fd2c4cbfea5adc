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
import android.widget.EditText;
import android.widget.ProgressBar;
import android.widget.Spinner;
import android.widget.TextView;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.dynabert.edge.core.Classification;
import org.dynabert.edge.core.ModelCard;
import org.dynabert.edge.core.TextClassifier;

/**
 * The demo screen: a text box, Classify, the label with its probability, tokenizer and model times, and
 * the loaded sub-model; a picker when several models are bundled.
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

    private final List<String> folders = new ArrayList<String>();
    /** Touched only on the worker thread. */
    private LoadedModel loaded;
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
                            title = c.name + String.format(Locale.ROOT, " (w%.2f d%.2f %s %s)",
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
        clearResult();
        modelInfo.setText("Loading " + folder + "…");
        setBusy(true);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String error = null;
                String info = null;
                try {
                    if (loaded != null && loaded.folder.equals(folder)) {
                        info = describe(loaded);
                    } else {
                        if (loaded != null) {
                            loaded.close();
                            loaded = null;
                        }
                        loaded = LoadedModel.load(MainActivity.this, folder, 0);
                        info = describe(loaded);
                    }
                } catch (Throwable t) {
                    error = "Could not load " + folder + ": " + Errors.describe(t);
                }
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
                        } else {
                            modelInfo.setText(i);
                            inputPair.setVisibility(loaded != null && loaded.card.pair ? View.VISIBLE : View.GONE);
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
                try {
                    if (loaded == null) {
                        error = "No model is loaded.";
                    } else {
                        result = loaded.classifier.classify(text, textPair);
                    }
                } catch (Throwable t) {
                    error = "Classification failed: " + Errors.describe(t);
                }
                final Classification r = result;
                final String e = error;
                main.post(new Runnable() {
                    @Override
                    public void run() {
                        if (gen != generation || isFinishing()) {
                            return;
                        }
                        setBusy(false);
                        if (e != null) {
                            clearResult();
                            message.setText(e);
                        } else {
                            showResult(r);
                        }
                    }
                });
            }
        });
    }

    private void showResult(Classification c) {
        if (c.regression) {
            // A score, not a class: show it on the task's label scale from the model card.
            resultLabel.setText("score " + (loaded != null ? loaded.card.formatScore(c.score)
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
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        worker.execute(new Runnable() {
            @Override
            public void run() {
                if (loaded != null) {
                    loaded.close();
                    loaded = null;
                }
            }
        });
        worker.shutdown();
        main.removeCallbacksAndMessages(null);
    }
}

package org.dynabert.edge.demo;

import android.content.Context;
import android.content.res.AssetManager;
import android.os.SystemClock;

import java.io.Closeable;
import java.io.File;

import org.dynabert.edge.core.BertTokenizer;
import org.dynabert.edge.core.Labels;
import org.dynabert.edge.core.ModelCard;
import org.dynabert.edge.core.TextClassifier;
import org.dynabert.edge.core.Vocab;

/** One bundled model, loaded: card, labels, tokenizer, ONNX Runtime session and the classifier over them. */
final class LoadedModel implements Closeable {
    final String folder;
    final ModelCard card;
    final Labels labels;
    final File modelFile;
    final OrtLogitsModel model;
    final TextClassifier classifier;
    /** Wall time to read the assets and create the session, milliseconds. */
    final double loadMillis;
    final int maxLength;
    final boolean padded;

    private LoadedModel(String folder, ModelCard card, Labels labels, File modelFile, OrtLogitsModel model,
                        TextClassifier classifier, double loadMillis, int maxLength, boolean padded) {
        this.folder = folder;
        this.card = card;
        this.labels = labels;
        this.modelFile = modelFile;
        this.model = model;
        this.classifier = classifier;
        this.loadMillis = loadMillis;
        this.maxLength = maxLength;
        this.padded = padded;
    }

    /** Reads only the card (cheap): for the picker and for error reports. */
    static ModelCard readCard(AssetManager assets, String folder) throws Exception {
        return ModelCard.parse(ModelAssets.readText(assets, folder, ModelAssets.CARD));
    }

    /** Loads everything; must run off the UI thread (file copy, session creation). */
    static LoadedModel load(Context ctx, String folder, int intraOpThreads) throws Exception {
        long t0 = SystemClock.elapsedRealtimeNanos();
        AssetManager assets = ctx.getAssets();
        ModelCard card = readCard(assets, folder);
        Labels labels = Labels.parse(ModelAssets.readText(assets, folder, ModelAssets.LABELS));
        Vocab vocab = Vocab.load(ModelAssets.open(assets, folder, ModelAssets.VOCAB));
        BertTokenizer tokenizer = card.tokenizer(vocab);
        String fileName = ModelAssets.resolveModelFileName(assets, folder, card.modelFile);
        File file = ModelAssets.modelFile(ctx, folder, fileName);
        OrtLogitsModel model = new OrtLogitsModel(file.getAbsolutePath(), card, intraOpThreads);
        try {
            int maxLength = card.maxLength;
            boolean pad = card.padToMaxLength;
            if (model.fixedSequenceLength() > 0) {
                // A graph exported with a static sequence length only accepts exactly that length.
                maxLength = model.fixedSequenceLength();
                pad = true;
            }
            TextClassifier classifier = new TextClassifier(tokenizer, model, labels, maxLength, pad, card.regression);
            double ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
            return new LoadedModel(folder, card, labels, file, model, classifier, ms, maxLength, pad);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    @Override
    public void close() {
        model.close();
    }
}

package org.dynabert.edge.demo;

import java.io.Closeable;
import java.io.File;

import org.dynabert.edge.core.BertTokenizer;
import org.dynabert.edge.core.BundleIndex;
import org.dynabert.edge.core.Labels;
import org.dynabert.edge.core.ModelCard;
import org.dynabert.edge.core.TextClassifier;

/** One sub-network of a bundle, running: its ONNX Runtime session and the classifier over it. */
final class EntrySession implements Closeable {
    final BundleIndex.Entry entry;
    final OrtLogitsModel model;
    final TextClassifier classifier;
    final int maxLength;
    final boolean padded;

    private EntrySession(BundleIndex.Entry entry, OrtLogitsModel model, TextClassifier classifier, int maxLength,
                         boolean padded) {
        this.entry = entry;
        this.model = model;
        this.classifier = classifier;
        this.maxLength = maxLength;
        this.padded = padded;
    }

    /**
     * Creates the session from the graph's file path: ONNX Runtime then reads the graph's tensors from
     * {@code weights.bin} beside it (ONNX external data resolves relative to the model's folder).
     */
    static EntrySession open(File bundleDir, BundleIndex.Entry entry, ModelCard card, BertTokenizer tokenizer,
                             Labels labels, int maxLength, int intraOpThreads) throws Exception {
        File graph = new File(bundleDir, entry.graph);
        OrtLogitsModel model = new OrtLogitsModel(graph.getAbsolutePath(), card, intraOpThreads);
        try {
            int len = maxLength;
            boolean pad = card.padToMaxLength;
            if (model.fixedSequenceLength() > 0) {
                len = model.fixedSequenceLength();
                pad = true;
            }
            TextClassifier classifier = new TextClassifier(tokenizer, model, labels, len, pad, card.regression);
            return new EntrySession(entry, model, classifier, len, pad);
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

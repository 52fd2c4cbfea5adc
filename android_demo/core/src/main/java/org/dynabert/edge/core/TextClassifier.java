package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Tokenize, run the model, softmax, map the label: the whole pipeline, with the tokenizer and the model
 * timed separately. Holds no Android or ONNX Runtime type; the model comes in as a {@link LogitsModel}.
 */
public final class TextClassifier {
    /** The message shown instead of a result when there is nothing to classify. */
    public static final String EMPTY_INPUT_MESSAGE = "Type some text to classify.";

    private final BertTokenizer tokenizer;
    private final LogitsModel model;
    private final Labels labels;
    private final int maxLength;
    private final boolean padToMaxLength;
    private final boolean regression;

    public TextClassifier(BertTokenizer tokenizer, LogitsModel model, Labels labels, int maxLength,
                          boolean padToMaxLength) {
        this(tokenizer, model, labels, maxLength, padToMaxLength, false);
    }

    /** {@code regression}: the model has one output, a score (model_card.json "regression": true). */
    public TextClassifier(BertTokenizer tokenizer, LogitsModel model, Labels labels, int maxLength,
                          boolean padToMaxLength, boolean regression) {
        if (maxLength < 3) {
            throw new IllegalArgumentException("maxLength must be at least 3");
        }
        this.tokenizer = tokenizer;
        this.model = model;
        this.labels = labels;
        this.maxLength = maxLength;
        this.padToMaxLength = padToMaxLength;
        this.regression = regression;
    }

    public boolean isRegression() {
        return regression;
    }

    public int maxLength() {
        return maxLength;
    }

    /**
     * {@code null} when {@code text} can be classified, otherwise the message to show instead
     * (null, empty or only whitespace).
     */
    public static String checkInput(String text) {
        if (text == null || text.trim().isEmpty()) {
            return EMPTY_INPUT_MESSAGE;
        }
        return null;
    }

    /** Tokenizes (truncating to max length as the Python side does) and classifies {@code text}. */
    public Classification classify(String text) throws Exception {
        return classify(text, null);
    }

    /** As {@link #classify(String)}, for a sentence pair (token types 0 and 1). */
    public Classification classify(String text, String textPair) throws Exception {
        long t0 = System.nanoTime();
        Encoding enc = tokenizer.encode(text == null ? "" : text, textPair, maxLength, padToMaxLength);
        long t1 = System.nanoTime();
        float[] logits = model.logits(enc);
        long t2 = System.nanoTime();
        if (logits == null || logits.length == 0) {
            throw new IllegalStateException("the model returned no logits");
        }
        List<String> notes = new ArrayList<String>();
        if (enc.truncatedTokens() > 0) {
            notes.add("Input truncated to " + maxLength + " tokens (" + enc.truncatedTokens()
                    + " of " + enc.wordpieceCount() + " word pieces dropped).");
        }
        if (enc.wordpieceCount() == 0) {
            notes.add("No tokens left after cleaning the input; the model saw only [CLS] [SEP].");
        }
        if (regression) {
            if (logits.length != 1) {
                throw new IllegalStateException("a regression model has one output; this one has " + logits.length);
            }
            String note = notes.isEmpty() ? null : Json.join(" ", notes);
            return new Classification(-1, null, Double.NaN, new double[0], logits, new ArrayList<String>(),
                    t1 - t0, t2 - t1, enc.length(), enc.wordpieceCount(), enc.truncatedTokens(), note, true,
                    logits[0]);
        }
        double[] probs = Softmax.softmax(logits);
        int best = Softmax.argmax(probs);
        ArrayList<String> names = new ArrayList<String>(probs.length);
        for (int i = 0; i < probs.length; i++) {
            names.add(labels.name(i));
        }
        if (labels.size() != probs.length) {
            notes.add("labels.json has " + labels.size() + " labels but the model has " + probs.length + " outputs.");
        }
        String note = notes.isEmpty() ? null : Json.join(" ", notes);
        return new Classification(best, labels.name(best), probs[best], probs, logits, names,
                t1 - t0, t2 - t1, enc.length(), enc.wordpieceCount(), enc.truncatedTokens(), note, false, Double.NaN);
    }
}

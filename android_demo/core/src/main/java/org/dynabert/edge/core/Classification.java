package org.dynabert.edge.core;

import java.util.List;

/**
 * One result: for a classifier the label, its probability and all probabilities; for a regression model
 * ({@link #regression}) the score ({@link #score}, the one output) with {@code labelId} -1, {@code label}
 * null and no probabilities. Timings and notes for the screen either way.
 */
public final class Classification {
    public final int labelId;
    public final String label;
    public final double probability;
    public final double[] probabilities;
    public final float[] logits;
    public final List<String> labelNames;
    /** Time spent in the tokenizer, nanoseconds. */
    public final long tokenizeNanos;
    /** Time spent in the model (tensor creation, run, reading the output), nanoseconds. */
    public final long modelNanos;
    /** Sequence length fed to the model (with special tokens and padding). */
    public final int sequenceLength;
    /** Word pieces the tokenizer produced for the text, before truncation. */
    public final int wordpieces;
    /** Word pieces removed by truncation to max_length. */
    public final int truncatedTokens;
    /** A note for the user (truncation, no tokens, label count mismatch) or {@code null}. */
    public final String note;
    /** A regression result: {@link #score} holds it. */
    public final boolean regression;
    /** The regression score (the model's one output); NaN for a classifier. */
    public final double score;

    Classification(int labelId, String label, double probability, double[] probabilities, float[] logits,
                   List<String> labelNames, long tokenizeNanos, long modelNanos, int sequenceLength,
                   int wordpieces, int truncatedTokens, String note, boolean regression, double score) {
        this.labelId = labelId;
        this.label = label;
        this.probability = probability;
        this.probabilities = probabilities;
        this.logits = logits;
        this.labelNames = labelNames;
        this.tokenizeNanos = tokenizeNanos;
        this.modelNanos = modelNanos;
        this.sequenceLength = sequenceLength;
        this.wordpieces = wordpieces;
        this.truncatedTokens = truncatedTokens;
        this.note = note;
        this.regression = regression;
        this.score = score;
    }

    public double tokenizeMillis() {
        return tokenizeNanos / 1e6;
    }

    public double modelMillis() {
        return modelNanos / 1e6;
    }
}

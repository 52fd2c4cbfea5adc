package org.dynabert.edge.core;

import java.util.Collections;
import java.util.List;

/** The model inputs for one text (or text pair), as {@code tokenizer(text, truncation=True, ...)} returns them. */
public final class Encoding {
    private final List<String> tokens;
    private final int[] inputIds;
    private final int[] tokenTypeIds;
    private final int[] attentionMask;
    private final int truncatedTokens;
    private final int wordpieceCount;

    Encoding(List<String> tokens, int[] inputIds, int[] tokenTypeIds, int[] attentionMask,
             int truncatedTokens, int wordpieceCount) {
        this.tokens = Collections.unmodifiableList(tokens);
        this.inputIds = inputIds;
        this.tokenTypeIds = tokenTypeIds;
        this.attentionMask = attentionMask;
        this.truncatedTokens = truncatedTokens;
        this.wordpieceCount = wordpieceCount;
    }

    /** Tokens including {@code [CLS]}, {@code [SEP]} and padding. */
    public List<String> tokens() {
        return tokens;
    }

    public int length() {
        return inputIds.length;
    }

    public int[] inputIds() {
        return inputIds.clone();
    }

    public int[] tokenTypeIds() {
        return tokenTypeIds.clone();
    }

    public int[] attentionMask() {
        return attentionMask.clone();
    }

    public long[] inputIdsLong() {
        return widen(inputIds);
    }

    public long[] tokenTypeIdsLong() {
        return widen(tokenTypeIds);
    }

    public long[] attentionMaskLong() {
        return widen(attentionMask);
    }

    /** How many word pieces truncation removed (0 when the input fitted). */
    public int truncatedTokens() {
        return truncatedTokens;
    }

    /** Word pieces of the text(s) before truncation, without special tokens. */
    public int wordpieceCount() {
        return wordpieceCount;
    }

    /** Number of non-padding positions. */
    public int attendedLength() {
        int n = 0;
        for (int m : attentionMask) {
            n += m;
        }
        return n;
    }

    private static long[] widen(int[] a) {
        long[] out = new long[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }
}

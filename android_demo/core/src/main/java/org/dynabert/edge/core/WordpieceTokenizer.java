package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Hugging Face's {@code WordpieceTokenizer}: greedy longest-match-first over code points, with
 * {@code ##} continuation pieces; a word with no full segmentation, or longer than
 * {@code maxInputCharsPerWord} code points (100 for BERT), becomes the unknown token.
 */
public final class WordpieceTokenizer {
    private final Vocab vocab;
    private final String unkToken;
    private final int maxInputCharsPerWord;

    public WordpieceTokenizer(Vocab vocab, String unkToken, int maxInputCharsPerWord) {
        this.vocab = vocab;
        this.unkToken = unkToken;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
    }

    /** Tokenizes text that the basic tokenizer has already split (it still splits on whitespace). */
    public List<String> tokenize(String text) {
        ArrayList<String> out = new ArrayList<String>();
        for (String token : BasicTokenizer.whitespaceTokenize(text)) {
            tokenizeWord(token, out);
        }
        return out;
    }

    void tokenizeWord(String token, List<String> out) {
        int nChars = token.codePointCount(0, token.length());
        if (nChars > maxInputCharsPerWord) {
            out.add(unkToken);
            return;
        }
        // offsets[k] = UTF-16 index of the k-th code point; offsets[nChars] = length.
        int[] offsets = new int[nChars + 1];
        int idx = 0;
        for (int k = 0; k < nChars; k++) {
            offsets[k] = idx;
            idx += Character.charCount(token.codePointAt(idx));
        }
        offsets[nChars] = token.length();

        ArrayList<String> pieces = new ArrayList<String>();
        int start = 0;
        while (start < nChars) {
            int end = nChars;
            String cur = null;
            while (start < end) {
                String sub = token.substring(offsets[start], offsets[end]);
                if (start > 0) {
                    sub = "##" + sub;
                }
                if (vocab.contains(sub)) {
                    cur = sub;
                    break;
                }
                end--;
            }
            if (cur == null) {
                out.add(unkToken);
                return;
            }
            pieces.add(cur);
            start = end;
        }
        out.addAll(pieces);
    }
}

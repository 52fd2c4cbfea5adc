package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A port of Hugging Face's slow {@code BertTokenizer} (transformers 4.57), the reference the golden
 * vectors are generated with.
 *
 * <p>Order of operations, as in {@code PreTrainedTokenizer.tokenize} + {@code BertTokenizer._tokenize}:
 * <ol>
 *   <li>special tokens typed in the text ({@code [CLS]}, {@code [SEP]}, ...) are kept whole;</li>
 *   <li>with lower-casing, the rest is lower-cased code point by code point (HF does it with a regex that
 *       matches one character at a time, so there is no final-sigma rule at this step);</li>
 *   <li>the basic tokenizer: cleaning, CJK splitting, NFC, whitespace split, lower-casing and accent
 *       stripping per word, punctuation split;</li>
 *   <li>WordPiece on each word.</li>
 * </ol>
 * {@link #encode} adds {@code [CLS]}/{@code [SEP]}, token types, truncation ({@code longest_first},
 * truncating on the right) and optional right padding with an attention mask.
 */
public final class BertTokenizer {
    public static final String UNK = "[UNK]";
    public static final String SEP = "[SEP]";
    public static final String PAD = "[PAD]";
    public static final String CLS = "[CLS]";
    public static final String MASK = "[MASK]";

    private final Vocab vocab;
    private final boolean doLowerCase;
    private final BasicTokenizer basic;
    private final WordpieceTokenizer wordpiece;
    /** Special tokens, longest first, for matching inside the text. */
    private final List<String> specialTokens;
    private final Set<String> specialSet;
    private final int unkId;
    private final int clsId;
    private final int sepId;
    private final int padId;

    /** The BERT-uncased defaults: lower-case, strip accents, split CJK characters. */
    public BertTokenizer(Vocab vocab) {
        this(vocab, true, null, true);
    }

    /**
     * @param doLowerCase          lower-case the text (uncased models)
     * @param stripAccents         {@code null} follows {@code doLowerCase}, as in BERT
     * @param tokenizeChineseChars put spaces around CJK ideographs
     */
    public BertTokenizer(Vocab vocab, boolean doLowerCase, Boolean stripAccents, boolean tokenizeChineseChars) {
        this.vocab = vocab;
        this.doLowerCase = doLowerCase;
        this.basic = new BasicTokenizer(doLowerCase, tokenizeChineseChars, stripAccents);
        this.wordpiece = new WordpieceTokenizer(vocab, UNK, 100);
        ArrayList<String> specials = new ArrayList<String>(Arrays.asList(PAD, UNK, CLS, SEP, MASK));
        // Longest first so that, should one special token prefix another, the longer one wins.
        Collections.sort(specials, new java.util.Comparator<String>() {
            @Override
            public int compare(String a, String b) {
                return b.length() - a.length();
            }
        });
        this.specialTokens = Collections.unmodifiableList(specials);
        this.specialSet = new HashSet<String>(specials);
        Integer unk = vocab.id(UNK);
        if (unk == null) {
            throw new IllegalArgumentException("vocabulary has no " + UNK + " token");
        }
        this.unkId = unk.intValue();
        this.clsId = idOf(CLS);
        this.sepId = idOf(SEP);
        this.padId = idOf(PAD);
    }

    public Vocab vocab() {
        return vocab;
    }

    public boolean doLowerCase() {
        return doLowerCase;
    }

    /** {@code tokenizer.tokenize(text)}: word pieces without special tokens added. */
    public List<String> tokenize(String text) {
        ArrayList<String> out = new ArrayList<String>();
        if (text == null || text.isEmpty()) {
            return out;
        }
        StringBuilder segment = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            String special = specialAt(text, i);
            if (special != null) {
                flushSegment(segment, out);
                out.add(special);
                i += special.length();
                continue;
            }
            int cp = text.codePointAt(i);
            int n = Character.charCount(cp);
            if (doLowerCase) {
                segment.append(BasicTokenizer.pythonLower(text.substring(i, i + n)));
            } else {
                segment.appendCodePoint(cp);
            }
            i += n;
        }
        flushSegment(segment, out);
        return out;
    }

    private String specialAt(String text, int i) {
        if (text.charAt(i) != '[') {
            return null;
        }
        for (String s : specialTokens) {
            if (text.startsWith(s, i)) {
                return s;
            }
        }
        return null;
    }

    private void flushSegment(StringBuilder segment, List<String> out) {
        if (segment.length() == 0) {
            return;
        }
        String seg = segment.toString();
        segment.setLength(0);
        for (String word : basicTokenize(seg)) {
            out.addAll(wordpiece.tokenize(word));
        }
    }

    /**
     * The basic tokenizer with the special tokens as {@code never_split}: a word that equals a special
     * token (possible only once cleaning removed an invisible character from it) is neither lower-cased
     * nor split on punctuation, and WordPiece then finds it in the vocabulary.
     */
    private List<String> basicTokenize(String seg) {
        return basic.tokenize(seg, specialSet);
    }

    /** {@code convert_tokens_to_ids}; unknown tokens map to {@code [UNK]}. */
    public int[] convertTokensToIds(List<String> tokens) {
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer id = vocab.id(tokens.get(i));
            ids[i] = id == null ? unkId : id.intValue();
        }
        return ids;
    }

    private int idOf(String token) {
        Integer id = vocab.id(token);
        return id == null ? unkId : id.intValue();
    }

    /** {@code tokenizer(text, truncation=True, max_length=maxLength)} without padding. */
    public Encoding encode(String text, int maxLength) {
        return encode(text, null, maxLength, false);
    }

    /**
     * {@code tokenizer(text, textPair, truncation=True, max_length=maxLength,
     * padding="max_length" if padToMaxLength else False)}.
     *
     * @param textPair  second sequence or {@code null}
     * @param maxLength total length including special tokens; {@code <= 0} disables truncation
     */
    public Encoding encode(String text, String textPair, int maxLength, boolean padToMaxLength) {
        int specials = textPair == null ? 2 : 3;
        if (maxLength > 0 && maxLength < specials) {
            throw new IllegalArgumentException("max_length " + maxLength + " leaves no room for the special tokens");
        }
        List<String> a = tokenize(text == null ? "" : text);
        List<String> b = textPair == null ? null : tokenize(textPair);
        int lenA = a.size();
        int lenB = b == null ? 0 : b.size();
        int wordpieces = lenA + lenB;
        int keepA = lenA;
        int keepB = lenB;
        int total = lenA + lenB + specials;
        if (maxLength > 0 && total > maxLength) {
            int remove = total - maxLength;
            if (b == null) {
                keepA = lenA - remove;
            } else {
                // TruncationStrategy.LONGEST_FIRST of the slow tokenizer (transformers >= 4.26).
                int firstRemove = Math.min(Math.abs(lenB - lenA), remove);
                int secondRemove = remove - firstRemove;
                int aMove;
                int bMove;
                if (lenA > lenB) {
                    aMove = firstRemove + secondRemove / 2;
                    bMove = secondRemove - secondRemove / 2;
                } else {
                    aMove = secondRemove / 2;
                    bMove = firstRemove + secondRemove - secondRemove / 2;
                }
                keepA = lenA - aMove;
                keepB = lenB - bMove;
            }
        }
        int seqLen = keepA + keepB + specials;
        int padded = padToMaxLength && maxLength > seqLen ? maxLength : seqLen;
        ArrayList<String> tokens = new ArrayList<String>(padded);
        int[] ids = new int[padded];
        int[] types = new int[padded];
        int[] mask = new int[padded];
        int k = 0;
        tokens.add(CLS);
        ids[k] = clsId;
        mask[k++] = 1;
        int[] idsA = convertTokensToIds(a);
        for (int i = 0; i < keepA; i++) {
            tokens.add(a.get(i));
            ids[k] = idsA[i];
            mask[k++] = 1;
        }
        tokens.add(SEP);
        ids[k] = sepId;
        mask[k++] = 1;
        if (b != null) {
            int[] idsB = convertTokensToIds(b);
            for (int i = 0; i < keepB; i++) {
                tokens.add(b.get(i));
                ids[k] = idsB[i];
                types[k] = 1;
                mask[k++] = 1;
            }
            tokens.add(SEP);
            ids[k] = sepId;
            types[k] = 1;
            mask[k++] = 1;
        }
        while (k < padded) {
            tokens.add(PAD);
            ids[k] = padId;
            types[k] = 0;
            mask[k++] = 0;
        }
        return new Encoding(tokens, ids, types, mask, (lenA - keepA) + (lenB - keepB), wordpieces);
    }
}

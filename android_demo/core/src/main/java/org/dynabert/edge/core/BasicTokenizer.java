package org.dynabert.edge.core;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Hugging Face's {@code BasicTokenizer}: text cleaning, CJK splitting, NFC, whitespace splitting,
 * lower-casing, accent stripping and punctuation splitting, step for step.
 */
public final class BasicTokenizer {
    private final boolean doLowerCase;
    private final boolean tokenizeChineseChars;
    /** {@code null}: follow {@code doLowerCase} (the BERT default). */
    private final Boolean stripAccents;

    public BasicTokenizer(boolean doLowerCase, boolean tokenizeChineseChars, Boolean stripAccents) {
        this.doLowerCase = doLowerCase;
        this.tokenizeChineseChars = tokenizeChineseChars;
        this.stripAccents = stripAccents;
    }

    public List<String> tokenize(String text) {
        return tokenize(text, null);
    }

    /**
     * @param neverSplit words kept as they are (no lower-casing, accent stripping or punctuation
     *                   split); {@code BertTokenizer} passes its special tokens, like HF does
     */
    public List<String> tokenize(String text, java.util.Set<String> neverSplit) {
        String cleaned = cleanText(text);
        if (tokenizeChineseChars) {
            cleaned = tokenizeChineseChars(cleaned);
        }
        String nfc = Normalizer.normalize(cleaned, Normalizer.Form.NFC);
        List<String> orig = whitespaceTokenize(nfc);
        ArrayList<String> split = new ArrayList<String>();
        for (String token : orig) {
            if (neverSplit != null && neverSplit.contains(token)) {
                split.add(token);
                continue;
            }
            if (doLowerCase) {
                token = pythonLower(token);
                if (stripAccents == null || stripAccents.booleanValue()) {
                    token = runStripAccents(token);
                }
            } else if (stripAccents != null && stripAccents.booleanValue()) {
                token = runStripAccents(token);
            }
            splitOnPunctuation(token, split);
        }
        // HF re-joins with " " and splits again, which drops the empty strings an all-accent token
        // (e.g. a lone combining mark) leaves behind.
        ArrayList<String> out = new ArrayList<String>(split.size());
        for (String t : split) {
            out.addAll(whitespaceTokenize(t));
        }
        return out;
    }

    /** Python's {@code str.lower()}: full Unicode case mapping, locale independent. */
    static String pythonLower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    static String cleanText(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        int i = 0;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == 0 || cp == 0xFFFD || CharClass.isBertControl(cp)) {
                continue;
            }
            if (CharClass.isBertWhitespace(cp)) {
                sb.append(' ');
            } else {
                sb.appendCodePoint(cp);
            }
        }
        return sb.toString();
    }

    static String tokenizeChineseChars(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 16);
        int i = 0;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (CharClass.isChineseChar(cp)) {
                sb.append(' ').appendCodePoint(cp).append(' ');
            } else {
                sb.appendCodePoint(cp);
            }
        }
        return sb.toString();
    }

    static String runStripAccents(String text) {
        String nfd = Normalizer.normalize(text, Normalizer.Form.NFD);
        StringBuilder sb = new StringBuilder(nfd.length());
        int i = 0;
        while (i < nfd.length()) {
            int cp = nfd.codePointAt(i);
            i += Character.charCount(cp);
            if (Character.getType(cp) == Character.NON_SPACING_MARK) {
                continue;
            }
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }

    static void splitOnPunctuation(String text, List<String> out) {
        StringBuilder cur = null;
        int i = 0;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (CharClass.isBertPunctuation(cp)) {
                if (cur != null) {
                    out.add(cur.toString());
                    cur = null;
                }
                out.add(new String(Character.toChars(cp)));
            } else {
                if (cur == null) {
                    cur = new StringBuilder();
                }
                cur.appendCodePoint(cp);
            }
        }
        if (cur != null) {
            out.add(cur.toString());
        }
    }

    /** Python's {@code text.strip().split()}: splits on Python whitespace, drops empty pieces. */
    static List<String> whitespaceTokenize(String text) {
        ArrayList<String> out = new ArrayList<String>();
        int i = 0;
        int start = -1;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            if (CharClass.isPythonSpace(cp)) {
                if (start >= 0) {
                    out.add(text.substring(start, i));
                    start = -1;
                }
            } else if (start < 0) {
                start = i;
            }
            i += Character.charCount(cp);
        }
        if (start >= 0) {
            out.add(text.substring(start));
        }
        return out;
    }
}

package org.dynabert.edge.core;

/**
 * Character classes exactly as Hugging Face's BERT tokenizer (and Python itself) define them.
 *
 * <p>Everything works on Unicode code points, like Python's {@code for char in text}; categories come
 * from {@link Character#getType(int)}, i.e. from the JVM's (or Android's ICU) Unicode tables. Python
 * 3.11 uses Unicode 14, Java 17 uses Unicode 13: characters assigned in between (a few emoji and rare
 * scripts) are "unassigned" here, which the cleaning step drops while Python keeps them as {@code [UNK]}.
 */
final class CharClass {
    private CharClass() {
    }

    /** HF {@code _is_whitespace}: space, tab, newline, carriage return, or category Zs. */
    static boolean isBertWhitespace(int cp) {
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
            return true;
        }
        return Character.getType(cp) == Character.SPACE_SEPARATOR;
    }

    /** HF {@code _is_control}: any category C* (Cc, Cf, Cn, Co, Cs) except tab, newline and CR. */
    static boolean isBertControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') {
            return false;
        }
        switch (Character.getType(cp)) {
            case Character.CONTROL:
            case Character.FORMAT:
            case Character.UNASSIGNED:
            case Character.PRIVATE_USE:
            case Character.SURROGATE:
                return true;
            default:
                return false;
        }
    }

    /** HF {@code _is_punctuation}: the four ASCII non-alphanumeric ranges, or any category P*. */
    static boolean isBertPunctuation(int cp) {
        if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
            return true;
        }
        switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION:
            case Character.DASH_PUNCTUATION:
            case Character.START_PUNCTUATION:
            case Character.END_PUNCTUATION:
            case Character.INITIAL_QUOTE_PUNCTUATION:
            case Character.FINAL_QUOTE_PUNCTUATION:
            case Character.OTHER_PUNCTUATION:
                return true;
            default:
                return false;
        }
    }

    /** HF {@code _is_chinese_char}: the CJK Unified Ideograph blocks (not Hangul, kana, etc.). */
    static boolean isChineseChar(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF)
                || (cp >= 0x3400 && cp <= 0x4DBF)
                || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F)
                || (cp >= 0x2B740 && cp <= 0x2B81F)
                || (cp >= 0x2B820 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF)
                || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    /**
     * Python's {@code str.isspace()}, which {@code str.split()} and {@code str.strip()} use:
     * bidirectional class WS, B or S, or category Zs. After cleaning, only U+2028 and U+2029 of the
     * non-Zs ones can still be in the text, but the full set is kept for fidelity.
     */
    static boolean isPythonSpace(int cp) {
        switch (cp) {
            case 0x09:
            case 0x0A:
            case 0x0B:
            case 0x0C:
            case 0x0D:
            case 0x1C:
            case 0x1D:
            case 0x1E:
            case 0x1F:
            case 0x20:
            case 0x85:
            case 0xA0:
            case 0x1680:
            case 0x2028:
            case 0x2029:
            case 0x202F:
            case 0x205F:
            case 0x3000:
                return true;
            default:
                return cp >= 0x2000 && cp <= 0x200A;
        }
    }
}

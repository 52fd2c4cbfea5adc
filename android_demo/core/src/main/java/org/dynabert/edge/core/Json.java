package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader and writer with no dependencies.
 *
 * <p>The core must not use {@code org.json}: on a desktop JVM the {@code android.jar} copy is a stub
 * that throws, and the core is tested off-device. Objects parse to {@link LinkedHashMap} (key order
 * kept), arrays to {@link ArrayList}, integral numbers that fit to {@link Long}, other numbers to
 * {@link Double}, {@code true}/{@code false} to {@link Boolean}, {@code null} to Java {@code null}.
 */
public final class Json {
    private final String s;
    private int pos;

    private Json(String s) {
        this.s = s;
    }

    /** Parses one JSON value; trailing non-whitespace is an error. */
    public static Object parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("JSON text is null");
        }
        Json p = new Json(text);
        // A UTF-8 byte-order mark decoded as U+FEFF is tolerated at the start.
        if (p.pos < text.length() && text.charAt(p.pos) == '\uFEFF') {
            p.pos++;
        }
        p.skipWs();
        Object v = p.readValue();
        p.skipWs();
        if (p.pos != text.length()) {
            throw p.error("unexpected trailing data");
        }
        return v;
    }

    private IllegalArgumentException error(String msg) {
        return new IllegalArgumentException("invalid JSON at offset " + pos + ": " + msg);
    }

    private void skipWs() {
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                pos++;
            } else {
                break;
            }
        }
    }

    private Object readValue() {
        if (pos >= s.length()) {
            throw error("unexpected end of input");
        }
        char c = s.charAt(pos);
        switch (c) {
            case '{':
                return readObject();
            case '[':
                return readArray();
            case '"':
                return readString();
            case 't':
                expectWord("true");
                return Boolean.TRUE;
            case 'f':
                expectWord("false");
                return Boolean.FALSE;
            case 'n':
                expectWord("null");
                return null;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    return readNumber();
                }
                throw error("unexpected character '" + c + "'");
        }
    }

    private void expectWord(String w) {
        if (!s.startsWith(w, pos)) {
            throw error("expected " + w);
        }
        pos += w.length();
    }

    private Map<String, Object> readObject() {
        LinkedHashMap<String, Object> m = new LinkedHashMap<String, Object>();
        pos++; // {
        skipWs();
        if (pos < s.length() && s.charAt(pos) == '}') {
            pos++;
            return m;
        }
        while (true) {
            skipWs();
            if (pos >= s.length() || s.charAt(pos) != '"') {
                throw error("expected a string key");
            }
            String key = readString();
            skipWs();
            if (pos >= s.length() || s.charAt(pos) != ':') {
                throw error("expected ':'");
            }
            pos++;
            skipWs();
            m.put(key, readValue());
            skipWs();
            if (pos >= s.length()) {
                throw error("unterminated object");
            }
            char c = s.charAt(pos++);
            if (c == '}') {
                return m;
            }
            if (c != ',') {
                throw error("expected ',' or '}'");
            }
        }
    }

    private List<Object> readArray() {
        ArrayList<Object> a = new ArrayList<Object>();
        pos++; // [
        skipWs();
        if (pos < s.length() && s.charAt(pos) == ']') {
            pos++;
            return a;
        }
        while (true) {
            skipWs();
            a.add(readValue());
            skipWs();
            if (pos >= s.length()) {
                throw error("unterminated array");
            }
            char c = s.charAt(pos++);
            if (c == ']') {
                return a;
            }
            if (c != ',') {
                throw error("expected ',' or ']'");
            }
        }
    }

    private String readString() {
        pos++; // opening quote
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= s.length()) {
                throw error("unterminated string");
            }
            char c = s.charAt(pos++);
            if (c == '"') {
                return sb.toString();
            }
            if (c == '\\') {
                if (pos >= s.length()) {
                    throw error("unterminated escape");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"':
                        sb.append('"');
                        break;
                    case '\\':
                        sb.append('\\');
                        break;
                    case '/':
                        sb.append('/');
                        break;
                    case 'b':
                        sb.append('\b');
                        break;
                    case 'f':
                        sb.append('\f');
                        break;
                    case 'n':
                        sb.append('\n');
                        break;
                    case 'r':
                        sb.append('\r');
                        break;
                    case 't':
                        sb.append('\t');
                        break;
                    case 'u':
                        if (pos + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        int v = 0;
                        for (int i = 0; i < 4; i++) {
                            int d = Character.digit(s.charAt(pos + i), 16);
                            if (d < 0) {
                                throw error("bad hex digit in \\u escape");
                            }
                            v = v * 16 + d;
                        }
                        pos += 4;
                        // Surrogate halves are appended one by one: a pair becomes one code point
                        // in the Java string, exactly like Python's json module does.
                        sb.append((char) v);
                        break;
                    default:
                        throw error("bad escape \\" + e);
                }
            } else if (c < 0x20) {
                throw error("raw control character in string");
            } else {
                sb.append(c);
            }
        }
    }

    private Object readNumber() {
        int start = pos;
        boolean integral = true;
        if (s.charAt(pos) == '-') {
            pos++;
        }
        int digitsStart = pos;
        while (pos < s.length() && Character.isDigit(s.charAt(pos)) && s.charAt(pos) < 128) {
            pos++;
        }
        if (pos == digitsStart) {
            throw error("expected digits");
        }
        if (pos < s.length() && s.charAt(pos) == '.') {
            integral = false;
            pos++;
            int fs = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
            if (pos == fs) {
                throw error("expected fraction digits");
            }
        }
        if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
            integral = false;
            pos++;
            if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                pos++;
            }
            int es = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
            if (pos == es) {
                throw error("expected exponent digits");
            }
        }
        String num = s.substring(start, pos);
        if (integral) {
            try {
                return Long.valueOf(Long.parseLong(num));
            } catch (NumberFormatException tooBig) {
                return Double.valueOf(Double.parseDouble(num));
            }
        }
        return Double.valueOf(Double.parseDouble(num));
    }

    // ------------------------------------------------------------------ writing

    /** Serialises maps, collections, arrays of primitives, strings, numbers, booleans and null. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        writeTo(sb, value, -1, 0);
        return sb.toString();
    }

    /** Like {@link #write} but indented by {@code indent} spaces per level. */
    public static String writePretty(Object value, int indent) {
        StringBuilder sb = new StringBuilder();
        writeTo(sb, value, indent, 0);
        return sb.toString();
    }

    private static void newline(StringBuilder sb, int indent, int level) {
        if (indent < 0) {
            return;
        }
        sb.append('\n');
        for (int i = 0; i < indent * level; i++) {
            sb.append(' ');
        }
    }

    private static void writeTo(StringBuilder sb, Object v, int indent, int level) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof String) {
            quote(sb, (String) v);
        } else if (v instanceof Boolean) {
            sb.append(((Boolean) v).booleanValue() ? "true" : "false");
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                sb.append("null");
            } else if (v instanceof Float) {
                sb.append(Float.toString(((Float) v).floatValue()));
            } else {
                sb.append(Double.toString(d));
            }
        } else if (v instanceof Number) {
            sb.append(v.toString());
        } else if (v instanceof Map) {
            Map<?, ?> m = (Map<?, ?>) v;
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                newline(sb, indent, level + 1);
                quote(sb, String.valueOf(e.getKey()));
                sb.append(indent < 0 ? ":" : ": ");
                writeTo(sb, e.getValue(), indent, level + 1);
            }
            if (!m.isEmpty()) {
                newline(sb, indent, level);
            }
            sb.append('}');
        } else if (v instanceof Collection) {
            writeList(sb, new ArrayList<Object>((Collection<?>) v), indent, level);
        } else if (v instanceof int[]) {
            int[] a = (int[]) v;
            ArrayList<Object> l = new ArrayList<Object>(a.length);
            for (int x : a) {
                l.add(Integer.valueOf(x));
            }
            writeList(sb, l, indent, level);
        } else if (v instanceof long[]) {
            long[] a = (long[]) v;
            ArrayList<Object> l = new ArrayList<Object>(a.length);
            for (long x : a) {
                l.add(Long.valueOf(x));
            }
            writeList(sb, l, indent, level);
        } else if (v instanceof float[]) {
            float[] a = (float[]) v;
            ArrayList<Object> l = new ArrayList<Object>(a.length);
            for (float x : a) {
                l.add(Float.valueOf(x));
            }
            writeList(sb, l, indent, level);
        } else if (v instanceof double[]) {
            double[] a = (double[]) v;
            ArrayList<Object> l = new ArrayList<Object>(a.length);
            for (double x : a) {
                l.add(Double.valueOf(x));
            }
            writeList(sb, l, indent, level);
        } else if (v instanceof Object[]) {
            Object[] a = (Object[]) v;
            ArrayList<Object> l = new ArrayList<Object>(a.length);
            for (Object x : a) {
                l.add(x);
            }
            writeList(sb, l, indent, level);
        } else {
            quote(sb, v.toString());
        }
    }

    private static void writeList(StringBuilder sb, List<Object> l, int indent, int level) {
        sb.append('[');
        for (int i = 0; i < l.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            newline(sb, indent, level + 1);
            writeTo(sb, l.get(i), indent, level + 1);
        }
        if (!l.isEmpty()) {
            newline(sb, indent, level);
        }
        sb.append(']');
    }

    /** Appends {@code str} as a JSON string literal; lone surrogates are escaped so the output stays valid UTF-8. */
    public static void quote(StringBuilder sb, String str) {
        sb.append('"');
        int n = str.length();
        for (int i = 0; i < n; i++) {
            char c = str.charAt(i);
            switch (c) {
                case '"':
                    sb.append("\\\"");
                    break;
                case '\\':
                    sb.append("\\\\");
                    break;
                case '\n':
                    sb.append("\\n");
                    break;
                case '\r':
                    sb.append("\\r");
                    break;
                case '\t':
                    sb.append("\\t");
                    break;
                case '\b':
                    sb.append("\\b");
                    break;
                case '\f':
                    sb.append("\\f");
                    break;
                default:
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                        appendUnicodeEscape(sb, c);
                    } else if (Character.isHighSurrogate(c)) {
                        if (i + 1 < n && Character.isLowSurrogate(str.charAt(i + 1))) {
                            sb.append(c).append(str.charAt(i + 1));
                            i++;
                        } else {
                            appendUnicodeEscape(sb, c);
                        }
                    } else if (Character.isLowSurrogate(c)) {
                        appendUnicodeEscape(sb, c);
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }

    private static void appendUnicodeEscape(StringBuilder sb, char c) {
        String hex = Integer.toHexString(c);
        sb.append("\\u");
        for (int k = hex.length(); k < 4; k++) {
            sb.append('0');
        }
        sb.append(hex);
    }

    // ------------------------------------------------------------------ typed access helpers

    /** Casts a parsed value to an object, or throws with {@code what} in the message. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> asObject(Object v, String what) {
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException(what + ": expected a JSON object");
        }
        return (Map<String, Object>) v;
    }

    /** Casts a parsed value to an array, or throws with {@code what} in the message. */
    @SuppressWarnings("unchecked")
    public static List<Object> asArray(Object v, String what) {
        if (!(v instanceof List)) {
            throw new IllegalArgumentException(what + ": expected a JSON array");
        }
        return (List<Object>) v;
    }

    public static String getString(Map<String, Object> m, String key, String def) {
        Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String)) {
            throw new IllegalArgumentException("field '" + key + "' must be a string");
        }
        return (String) v;
    }

    public static double getDouble(Map<String, Object> m, String key, double def) {
        Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Number)) {
            throw new IllegalArgumentException("field '" + key + "' must be a number");
        }
        return ((Number) v).doubleValue();
    }

    public static long getLong(Map<String, Object> m, String key, long def) {
        Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Number)) {
            throw new IllegalArgumentException("field '" + key + "' must be a number");
        }
        double d = ((Number) v).doubleValue();
        long l = ((Number) v).longValue();
        if (d != (double) l) {
            throw new IllegalArgumentException("field '" + key + "' must be an integer");
        }
        return l;
    }

    /** A boolean field; {@code null} when absent or JSON null (tri-state settings such as strip_accents). */
    public static Boolean getBoolean(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v == null) {
            return null;
        }
        if (!(v instanceof Boolean)) {
            throw new IllegalArgumentException("field '" + key + "' must be true, false or null");
        }
        return (Boolean) v;
    }

    /** Joins strings with a separator ({@code String.join} is API 26, too new for the app's floor). */
    public static String join(String sep, List<String> parts) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts.size(); i++) {
            if (i > 0) {
                sb.append(sep);
            }
            sb.append(parts.get(i));
        }
        return sb.toString();
    }
}

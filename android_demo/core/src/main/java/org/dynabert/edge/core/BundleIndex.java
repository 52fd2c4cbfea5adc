package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code bundle.json}: the index of a shared-weight bundle, one weights file and one small ONNX graph per
 * DynaBERT sub-network, every graph reading its tensors from ranges of the weights file (ONNX external
 * data).
 *
 * <pre>
 * {"format": "dynabert-bundle", "version": 1, "precision": "int8",
 *  "weights": {"file": "weights.bin", "bytes": N, "sha256": "..."},
 *  "inputs": ["input_ids", "attention_mask"], "max_length": 128,
 *  "entries": [{"name": "w1_d1", "width_mult": 1.0, "depth_mult": 1.0, "graph": "w1_d1.onnx",
 *               "sha256": "...", "params": P, "macs": M}, ...]}
 * </pre>
 *
 * The file comes from the APK (or, later, a download) and is treated as untrusted: every file it names
 * must be a plain name inside the bundle folder (no path, no {@code ..}, no hidden file), checksums are
 * 64 hex digits, names and graphs are unique, and the entry count is bounded. Entries are kept largest
 * first (by MACs when every entry states them, else by parameters, else by width x depth) whatever
 * order the file lists them in, because auto mode walks them in that order. Unknown fields are ignored.
 */
public final class BundleIndex {
    public static final String FORMAT = "dynabert-bundle";
    /** The newest index layout this app reads. */
    public static final int VERSION = 1;
    /** More entries than any width x depth grid the export makes; a bound on what an index can ask for. */
    static final int MAX_ENTRIES = 64;

    /** One sub-network of the bundle. */
    public static final class Entry {
        public final String name;
        public final double widthMult;
        public final double depthMult;
        /** The graph's file name in the bundle folder. */
        public final String graph;
        /** Lower-case hex SHA-256 of the graph file. */
        public final String sha256;
        /** -1 when the index does not say. */
        public final long params;
        /** -1 when the index does not say. */
        public final long macs;

        Entry(String name, double widthMult, double depthMult, String graph, String sha256, long params, long macs) {
            this.name = name;
            this.widthMult = widthMult;
            this.depthMult = depthMult;
            this.graph = graph;
            this.sha256 = sha256;
            this.params = params;
            this.macs = macs;
        }

        /** "w0.75 · d0.5" for the screen. */
        public String label() {
            return String.format(Locale.ROOT, "w%s · d%s", trim(widthMult), trim(depthMult));
        }
    }

    public final String precision;
    public final String weightsFile;
    public final long weightsBytes;
    public final String weightsSha256;
    /** Input names the export declares (informational: the app asks each session); empty when absent. */
    public final List<String> inputs;
    /** Truncation length of the export; -1 when the index does not say. */
    public final int maxLength;
    /** Largest first. */
    public final List<Entry> entries;

    private BundleIndex(String where, Map<String, Object> m) {
        String format = Json.getString(m, "format", null);
        if (!FORMAT.equals(format)) {
            throw bad(where, "not a DynaBERT bundle index: 'format' is " + (format == null ? "missing" : "'" + format + "'")
                    + ", expected '" + FORMAT + "'");
        }
        long version = integer(where, m, "version", -1);
        if (version < 1) {
            throw bad(where, "'version' must be an integer >= 1");
        }
        if (version > VERSION) {
            throw bad(where, "version " + version + " is newer than this app reads (" + VERSION
                    + "): update the app, or export the bundle with the matching dynabert-edge");
        }
        precision = Json.getString(m, "precision", null);
        if (precision == null || precision.isEmpty()) {
            throw bad(where, "'precision' is required (e.g. \"fp32\", \"int8\")");
        }

        Object w = m.get("weights");
        if (!(w instanceof Map)) {
            throw bad(where, "'weights' must be an object {\"file\", \"bytes\", \"sha256\"}");
        }
        Map<String, Object> weights = Json.asObject(w, "weights");
        weightsFile = fileName(where, "weights.file", Json.getString(weights, "file", null));
        weightsBytes = integer(where, weights, "bytes", -1);
        if (weightsBytes < 1) {
            throw bad(where, "'weights.bytes' must be the weights file's size in bytes (an integer >= 1)");
        }
        weightsSha256 = sha256(where, "weights.sha256", weights.get("sha256"));

        List<String> in = new ArrayList<String>();
        Object inputsValue = m.get("inputs");
        if (inputsValue != null) {
            if (!(inputsValue instanceof List)) {
                throw bad(where, "'inputs' must be a list of input names");
            }
            for (Object o : Json.asArray(inputsValue, "inputs")) {
                if (!(o instanceof String)) {
                    throw bad(where, "'inputs' must be a list of input names");
                }
                in.add((String) o);
            }
        }
        inputs = Collections.unmodifiableList(in);
        long ml = integer(where, m, "max_length", -1);
        if (ml != -1 && (ml < 3 || ml > 1_000_000L)) {
            throw bad(where, "'max_length' must be at least 3, got " + ml);
        }
        maxLength = (int) ml;

        Object e = m.get("entries");
        if (!(e instanceof List) || ((List<?>) e).isEmpty()) {
            throw bad(where, "'entries' must be a non-empty list of sub-networks");
        }
        List<Object> raw = Json.asArray(e, "entries");
        if (raw.size() > MAX_ENTRIES) {
            throw bad(where, raw.size() + " entries; at most " + MAX_ENTRIES + " are accepted");
        }
        List<Entry> list = new ArrayList<Entry>();
        Set<String> names = new HashSet<String>();
        Set<String> graphs = new HashSet<String>();
        graphs.add(weightsFile);
        for (int i = 0; i < raw.size(); i++) {
            String at = "entries[" + i + "]";
            if (!(raw.get(i) instanceof Map)) {
                throw bad(where, at + " must be an object");
            }
            Map<String, Object> o = Json.asObject(raw.get(i), at);
            String name = Json.getString(o, "name", null);
            if (name == null || !isPlainName(name)) {
                throw bad(where, at + ".name must be a plain name of letters, digits, '.', '_' or '-', got "
                        + (name == null ? "nothing" : "'" + name + "'"));
            }
            if (!names.add(name)) {
                throw bad(where, "two entries are named '" + name + "'");
            }
            String what = "entry '" + name + "'";
            double wm = multiplier(where, o, "width_mult", what);
            double dm = multiplier(where, o, "depth_mult", what);
            String graph = fileName(where, what + " graph", Json.getString(o, "graph", null));
            if (!graph.endsWith(".onnx")) {
                throw bad(where, what + ": the graph must be an .onnx file, got '" + graph + "'");
            }
            if (!graphs.add(graph)) {
                throw bad(where, what + ": graph '" + graph + "' is used twice (or is the weights file)");
            }
            String sha = sha256(where, what + " sha256", o.get("sha256"));
            long params = integer(where, o, "params", -1);
            long macs = integer(where, o, "macs", -1);
            list.add(new Entry(name, wm, dm, graph, sha, params, macs));
        }
        entries = Collections.unmodifiableList(largestFirst(list));
    }

    /** Parses and validates; {@code where} (e.g. the asset path) starts every error message. */
    public static BundleIndex parse(String json, String where) {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw bad(where, "not valid JSON: " + e.getMessage());
        }
        if (!(root instanceof Map)) {
            throw bad(where, "expected a JSON object");
        }
        try {
            return new BundleIndex(where, Json.asObject(root, where));
        } catch (IllegalArgumentException e) {
            String msg = String.valueOf(e.getMessage());
            throw msg.startsWith(where) ? e : bad(where, msg);
        }
    }

    public int size() {
        return entries.size();
    }

    public List<String> names() {
        List<String> out = new ArrayList<String>();
        for (Entry e : entries) {
            out.add(e.name);
        }
        return out;
    }

    /** The position of the entry called {@code name}, or -1. */
    public int indexOf(String name) {
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i).name.equals(name)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A plain file or folder name: letters, digits, '.', '_', '-', not starting with '.', at most 128
     * characters. Nothing that could leave its folder ({@code /}, {@code \}, {@code ..}) or hide.
     */
    public static boolean isPlainName(String s) {
        if (s == null || s.isEmpty() || s.length() > 128 || s.charAt(0) == '.') {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '.' || c == '_' || c == '-';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /**
     * Checks a relative path of plain names ({@code "bundle.int8/bundle.json"}) and returns its parts;
     * refuses absolute paths, {@code ..}, hidden names, backslashes and empty parts.
     */
    public static List<String> relativePath(String path, String what) {
        if (path == null || path.isEmpty()) {
            throw new IllegalArgumentException(what + " must be a relative path such as \"bundle.int8/bundle.json\"");
        }
        List<String> parts = new ArrayList<String>();
        for (String p : path.split("/", -1)) {
            if (!isPlainName(p)) {
                throw new IllegalArgumentException(what + " must be a relative path of plain names inside the model"
                        + " folder (letters, digits, '.', '_', '-'; no '..', no leading '/' or '.'), got '" + path + "'");
            }
            parts.add(p);
        }
        if (parts.size() > 8) {
            throw new IllegalArgumentException(what + ": '" + path + "' is nested too deep");
        }
        return parts;
    }

    /** Largest first: by MACs when every entry has them, else parameters, else width x depth; stable. */
    static List<Entry> largestFirst(List<Entry> in) {
        boolean allMacs = true;
        boolean allParams = true;
        for (Entry e : in) {
            allMacs &= e.macs >= 0;
            allParams &= e.params >= 0;
        }
        final int key = allMacs ? 0 : (allParams ? 1 : 2);
        List<Entry> out = new ArrayList<Entry>(in);
        Collections.sort(out, new Comparator<Entry>() {
            @Override
            public int compare(Entry a, Entry b) {
                double x = key == 0 ? a.macs : key == 1 ? a.params : a.widthMult * a.depthMult;
                double y = key == 0 ? b.macs : key == 1 ? b.params : b.widthMult * b.depthMult;
                return Double.compare(y, x);
            }
        });
        return out;
    }

    private static String fileName(String where, String what, String name) {
        if (name == null || !isPlainName(name)) {
            throw bad(where, what + " must be a plain file name inside the bundle folder (no path, no '..',"
                    + " not hidden), got " + (name == null ? "nothing" : "'" + name + "'"));
        }
        return name;
    }

    private static String sha256(String where, String what, Object v) {
        if (!(v instanceof String) || ((String) v).length() != 64) {
            throw bad(where, what + " must be 64 hex digits (a SHA-256)");
        }
        String s = ((String) v).toLowerCase(Locale.ROOT);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                throw bad(where, what + " must be 64 hex digits (a SHA-256)");
            }
        }
        return s;
    }

    private static double multiplier(String where, Map<String, Object> o, String key, String what) {
        Object v = o.get(key);
        if (!(v instanceof Number)) {
            throw bad(where, what + ": '" + key + "' must be a number in (0, 1]");
        }
        double d = ((Number) v).doubleValue();
        if (!(d > 0 && d <= 1)) {
            throw bad(where, what + ": '" + key + "' must be in (0, 1], got " + d);
        }
        return d;
    }

    private static long integer(String where, Map<String, Object> m, String key, long def) {
        Object v = m.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Number)) {
            throw bad(where, "'" + key + "' must be an integer");
        }
        double d = ((Number) v).doubleValue();
        long l = ((Number) v).longValue();
        if (d != (double) l || l < 0) {
            throw bad(where, "'" + key + "' must be a non-negative integer, got " + v);
        }
        return l;
    }

    private static IllegalArgumentException bad(String where, String what) {
        return new IllegalArgumentException(where + ": " + what);
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }
}

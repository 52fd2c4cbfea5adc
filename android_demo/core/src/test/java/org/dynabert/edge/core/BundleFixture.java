package org.dynabert.edge.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A tiny bundle made by hand: a weights file, three "graphs" (a few bytes each; the Java side never
 * parses them, ONNX Runtime does on the phone) and a bundle.json with their real checksums, laid out
 * as the Python export writes it.
 */
final class BundleFixture {
    static final String[] NAMES = {"w1_d1", "w0.5_d1", "w0.25_d0.5"};
    static final double[][] MULTS = {{1.0, 1.0}, {0.5, 1.0}, {0.25, 0.5}};
    static final long[] MACS = {1000, 500, 125};

    private BundleFixture() {
    }

    static byte[] weights() {
        byte[] b = new byte[70000];  // over one 64 KB copy buffer
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    static byte[] graph(String name) throws IOException {
        return ("fake onnx graph of " + name).getBytes("UTF-8");
    }

    static String sha(byte[] b) {
        return BundleCopy.hex(BundleCopy.sha256().digest(b));
    }

    /** bundle.json for the fixture; {@code reversed} lists the entries smallest first. */
    static String index(boolean reversed) throws IOException {
        List<String> entries = new ArrayList<String>();
        for (int i = 0; i < NAMES.length; i++) {
            entries.add(String.format(Locale.ROOT, "{\"name\": \"%s\", \"width_mult\": %s, \"depth_mult\": %s,"
                    + " \"graph\": \"%s.onnx\", \"sha256\": \"%s\", \"params\": %d, \"macs\": %d}",
                    NAMES[i], MULTS[i][0], MULTS[i][1], NAMES[i], sha(graph(NAMES[i])), MACS[i] * 3, MACS[i]));
        }
        if (reversed) {
            java.util.Collections.reverse(entries);
        }
        return "{\"format\": \"dynabert-bundle\", \"version\": 1, \"precision\": \"int8\","
                + " \"weights\": {\"file\": \"weights.bin\", \"bytes\": " + weights().length + ", \"sha256\": \""
                + sha(weights()) + "\"}, \"inputs\": [\"input_ids\", \"attention_mask\"], \"max_length\": 128,"
                + " \"entries\": [" + Json.join(", ", entries) + "], \"future_field\": 1}";
    }

    /** Writes the bundle into {@code dir} (created). */
    static File write(File dir) throws IOException {
        dir.mkdirs();
        put(new File(dir, "weights.bin"), weights());
        for (String n : NAMES) {
            put(new File(dir, n + ".onnx"), graph(n));
        }
        put(new File(dir, "bundle.json"), index(false).getBytes("UTF-8"));
        return dir;
    }

    static void put(File f, byte[] bytes) throws IOException {
        OutputStream out = new FileOutputStream(f);
        try {
            out.write(bytes);
        } finally {
            out.close();
        }
    }

    /** A source over a folder, counting what it opens (to see that a second start copies nothing). */
    static final class FolderSource implements BundleCopy.Source {
        final File dir;
        final List<String> opened = new ArrayList<String>();

        FolderSource(File dir) {
            this.dir = dir;
        }

        @Override
        public InputStream open(String name) throws IOException {
            opened.add(name);
            return new FileInputStream(new File(dir, name));
        }

        @Override
        public String describe() {
            return "assets/models/m/bundle.int8";
        }
    }
}

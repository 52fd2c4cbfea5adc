package org.dynabert.edge.core;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Access to the golden vectors made by {@code android_demo/tools/make_golden.py}.
 *
 * <p>The directory comes from the system property {@code golden.dir} (or the {@code GOLDEN_DIR}
 * environment variable). {@code ci/run_junit.sh} always generates it and sets
 * {@code golden.required=true}, so a missing directory fails the run there; elsewhere (an IDE, Gradle
 * without the property) the golden tests are skipped with a message.
 */
final class Golden {
    private Golden() {
    }

    static File dir() {
        String d = System.getProperty("golden.dir");
        if (d == null || d.isEmpty()) {
            d = System.getenv("GOLDEN_DIR");
        }
        if (d == null || d.isEmpty()) {
            if (Boolean.getBoolean("golden.required")) {
                throw new IllegalStateException("golden.required is set but golden.dir is not");
            }
            return null;
        }
        File f = new File(d);
        if (!new File(f, "tokenizer_cases.jsonl").isFile()) {
            throw new IllegalStateException("golden.dir " + f + " has no tokenizer_cases.jsonl; run tools/make_golden.py");
        }
        return f;
    }

    /** Parameters for a JUnit Parameterized test: {id, record}; one skip marker when there is no golden dir. */
    static List<Object[]> cases(String fileName) throws IOException {
        File d = dir();
        if (d == null) {
            return Collections.singletonList(new Object[] {"golden-dir-not-set", null});
        }
        ArrayList<Object[]> out = new ArrayList<Object[]>();
        for (String line : readLines(new File(d, fileName))) {
            if (line.trim().isEmpty()) {
                continue;
            }
            Map<String, Object> rec = Json.asObject(Json.parse(line), fileName);
            out.add(new Object[] {rec.get("id"), rec});
        }
        if (out.isEmpty()) {
            throw new IllegalStateException(fileName + " is empty");
        }
        return out;
    }

    static List<String> readLines(File f) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(new FileInputStream(f), Charset.forName("UTF-8")));
        try {
            ArrayList<String> lines = new ArrayList<String>();
            String line;
            while ((line = r.readLine()) != null) {
                lines.add(line);
            }
            return lines;
        } finally {
            r.close();
        }
    }

    static int[] ints(Object jsonArray) {
        List<Object> l = Json.asArray(jsonArray, "int array");
        int[] out = new int[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).intValue();
        }
        return out;
    }

    static double[] doubles(Object jsonArray) {
        List<Object> l = Json.asArray(jsonArray, "number array");
        double[] out = new double[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).doubleValue();
        }
        return out;
    }

    static List<String> strings(Object jsonArray) {
        ArrayList<String> out = new ArrayList<String>();
        for (Object o : Json.asArray(jsonArray, "string array")) {
            out.add((String) o);
        }
        return out;
    }
}

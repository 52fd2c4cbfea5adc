package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assume.assumeTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/** Softmax and latency statistics against numpy, from the same golden directory. */
@RunWith(Parameterized.class)
public class GoldenNumericTest {
    @Parameters(name = "{0}")
    public static Collection<Object[]> data() throws IOException {
        List<Object[]> all = new ArrayList<Object[]>(Golden.cases("softmax_cases.jsonl"));
        if (all.get(0)[1] != null) {
            all.addAll(Golden.cases("stats_cases.jsonl"));
        }
        return all;
    }

    private final String id;
    private final Map<String, Object> rec;

    public GoldenNumericTest(String id, Map<String, Object> rec) {
        this.id = id;
        this.rec = rec;
    }

    @Test
    public void matchesNumpy() {
        assumeTrue("golden vectors not generated (set -Dgolden.dir; ci/run_junit.sh does)", rec != null);
        if (id.startsWith("softmax-")) {
            double[] l = Golden.doubles(rec.get("logits"));
            float[] logits = new float[l.length];
            for (int i = 0; i < l.length; i++) {
                logits[i] = (float) l[i];
            }
            double[] expected = Golden.doubles(rec.get("probabilities"));
            double[] got = Softmax.softmax(logits);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(id + "[" + i + "]", expected[i], got[i], 1e-12);
            }
            assertEquals(id + " argmax", ((Number) rec.get("argmax")).intValue(), Softmax.argmax(got));
        } else {
            LatencyStats s = LatencyStats.ofMillis(Golden.doubles(rec.get("ms")));
            double tol = 1e-9;
            assertEquals(id + " mean", ((Number) rec.get("mean")).doubleValue(), s.mean, tol);
            assertEquals(id + " median", ((Number) rec.get("median")).doubleValue(), s.median, tol);
            assertEquals(id + " p90", ((Number) rec.get("p90")).doubleValue(), s.p90, tol);
            assertEquals(id + " min", ((Number) rec.get("min")).doubleValue(), s.min, tol);
            assertEquals(id + " max", ((Number) rec.get("max")).doubleValue(), s.max, tol);
            assertEquals(id + " std", ((Number) rec.get("std")).doubleValue(), s.std, tol);
        }
    }
}

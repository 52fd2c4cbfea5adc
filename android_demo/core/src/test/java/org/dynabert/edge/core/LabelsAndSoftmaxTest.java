package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;

import org.junit.Test;

public class LabelsAndSoftmaxTest {
    @Test
    public void labelsFromListOrId2LabelObject() {
        Labels l = Labels.parse("[\"negative\", \"positive\"]");
        assertEquals(2, l.size());
        assertEquals("positive", l.name(1));
        assertEquals("LABEL_2", l.name(2));
        Labels o = Labels.parse("{\"1\": \"pos\", \"0\": \"neg\"}");
        assertEquals(Arrays.asList("neg", "pos"), o.names());
    }

    @Test
    public void badLabelFilesAreRejected() {
        String[] bad = {"[]", "[1, 2]", "{\"1\": \"a\"}", "\"neg\""};
        for (String b : bad) {
            try {
                Labels.parse(b);
                fail("accepted " + b);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().startsWith("labels.json"));
            }
        }
    }

    @Test
    public void softmaxIsStableAndNormalised() {
        double[] p = Softmax.softmax(new float[] {1000f, 999f, -1000f});
        assertEquals(1.0, p[0] + p[1] + p[2], 1e-12);
        assertEquals(1.0 / (1.0 + Math.exp(-1.0)), p[0], 1e-12);
        assertEquals(0.0, p[2], 1e-300);
        assertEquals(0, Softmax.argmax(p));
        assertEquals(0, Softmax.argmax(Softmax.softmax(new float[] {2f, 2f}))); // first on ties
        assertEquals(1.0, Softmax.softmax(new float[] {-3f})[0], 0);
    }

    @Test
    public void softmaxRejectsNonFiniteAndEmpty() {
        float[][] bad = {{}, {Float.NaN, 1f}, {Float.POSITIVE_INFINITY}};
        for (float[] b : bad) {
            try {
                Softmax.softmax(b);
                fail("accepted " + Arrays.toString(b));
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().length() > 0);
            }
        }
    }
}

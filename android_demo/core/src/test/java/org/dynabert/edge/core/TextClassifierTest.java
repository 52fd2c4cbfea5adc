package org.dynabert.edge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.Test;

/** The classification pipeline with a fake model that records what it was fed. */
public class TextClassifierTest {
    static final class FakeModel implements LogitsModel {
        final List<Encoding> seen = new ArrayList<Encoding>();
        float[] out = {0.5f, 2.0f};
        RuntimeException fail;

        @Override
        public float[] logits(Encoding e) {
            if (fail != null) {
                throw fail;
            }
            seen.add(e);
            return out.clone();
        }
    }

    private final FakeModel model = new FakeModel();
    private final TextClassifier clf = new TextClassifier(TokenizerUnitTest.tok(), model,
            Labels.parse("[\"negative\", \"positive\"]"), 16, false);

    @Test
    public void classifiesAndTimesBothHalves() throws Exception {
        Classification c = clf.classify("The unaffable cafe!");
        assertEquals(1, c.labelId);
        assertEquals("positive", c.label);
        assertEquals(1.0 / (1.0 + Math.exp(-1.5)), c.probability, 1e-9);
        assertEquals(Arrays.asList("negative", "positive"), c.labelNames);
        assertTrue(c.tokenizeNanos >= 0 && c.modelNanos >= 0);
        assertEquals(c.tokenizeNanos / 1e6, c.tokenizeMillis(), 0);
        assertNull(c.note);
        assertArrayEquals(new int[] {2, 8, 5, 6, 7, 12, 10, 3}, model.seen.get(0).inputIds());
        assertEquals(8, c.sequenceLength);
    }

    @Test
    public void emptyInputGetsAMessageNotAnError() {
        assertEquals(TextClassifier.EMPTY_INPUT_MESSAGE, TextClassifier.checkInput(""));
        assertEquals(TextClassifier.EMPTY_INPUT_MESSAGE, TextClassifier.checkInput(null));
        assertEquals(TextClassifier.EMPTY_INPUT_MESSAGE, TextClassifier.checkInput(" \n\t "));
        assertNull(TextClassifier.checkInput("ok"));
    }

    @Test
    public void hardInputsAllGiveAResult() throws Exception {
        StringBuilder tenK = new StringBuilder();
        while (tenK.length() < 10000) {
            tenK.append("the cafe \uD83D\uDE00 \u4e2d ");
        }
        String[] inputs = {
            "", "\u200b\u200b", "\uD83D\uDE00\uD83D\uDD25", "\u8fd9\u90e8\u7535\u5f71", "\u0645\u0631\u062d\u0628\u0627",
            "\u05e9\u05dc\u05d5\u05dd", "\u0000\u0007", "x\ud800", tenK.substring(0, 10000),
        };
        for (String in : inputs) {
            Classification c = clf.classify(in);
            assertNotNull(c.label);
            assertTrue(c.sequenceLength <= 16);
        }
        Classification longOne = clf.classify(tenK.substring(0, 10000));
        assertEquals(16, longOne.sequenceLength);
        assertTrue(longOne.note, longOne.note.startsWith("Input truncated to 16 tokens"));
        Classification blank = clf.classify("\u200b");
        assertTrue(blank.note.contains("No tokens left"));
    }

    @Test
    public void labelCountMismatchIsReportedAndNamedLikeHf() throws Exception {
        model.out = new float[] {0f, 0f, 5f};
        Classification c = clf.classify("the");
        assertEquals("LABEL_2", c.label);
        assertTrue(c.note.contains("labels.json has 2 labels but the model has 3 outputs"));
    }

    @Test
    public void pairsAndPaddingReachTheModel() throws Exception {
        TextClassifier padded = new TextClassifier(TokenizerUnitTest.tok(), model, Labels.parse("[\"a\",\"b\"]"), 10, true);
        Classification c = padded.classify("the", "cafe");
        assertEquals(10, c.sequenceLength);
        Encoding e = model.seen.get(0);
        assertArrayEquals(new int[] {0, 0, 0, 1, 1, 0, 0, 0, 0, 0}, e.tokenTypeIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, e.attentionMask());
    }

    @Test
    public void modelFailuresPropagateForTheCallerToShow() throws Exception {
        model.fail = new IllegalStateException("boom");
        try {
            clf.classify("the");
            fail("no exception");
        } catch (IllegalStateException expected) {
            assertEquals("boom", expected.getMessage());
        }
        model.fail = null;
        model.out = new float[] {Float.NaN, 1f};
        try {
            clf.classify("the");
            fail("NaN accepted");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("non-finite"));
        }
    }

    @Test
    public void regressionGivesTheScoreOfAPairWithTokenTypes() throws Exception {
        FakeModel one = new FakeModel();
        one.out = new float[] {3.25f};
        TextClassifier reg = new TextClassifier(TokenizerUnitTest.tok(), one, Labels.parse("[\"score\"]"), 16, false,
                true);
        assertTrue(reg.isRegression());
        Classification c = reg.classify("the cafe", "the");
        assertTrue(c.regression);
        assertEquals(3.25, c.score, 0);
        assertEquals(-1, c.labelId);
        assertNull(c.label);
        assertEquals(0, c.probabilities.length);
        int[] types = one.seen.get(0).tokenTypeIds();
        assertEquals(0, types[0]);
        assertEquals(1, types[c.sequenceLength - 1]);  // the second sentence's [SEP] has token type 1
        Classification cls = clf.classify("the");
        assertTrue(!cls.regression && Double.isNaN(cls.score));
        one.out = new float[] {1f, 2f};
        try {
            reg.classify("the");
            fail("two outputs accepted as a score");
        } catch (IllegalStateException expected) {
            assertTrue(expected.getMessage().contains("one output"));
        }
    }
}

package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;

import org.junit.Test;

public class ModelCardTest {
    static final String FULL = "{\"name\": \"w0.5_d0.75_int8\", \"width_mult\": 0.5, \"depth_mult\": 0.75,"
            + " \"format\": \"ORT\", \"precision\": \"int8\", \"bytes\": 12897280, \"max_length\": 64,"
            + " \"do_lower_case\": true, \"metric\": {\"name\": \"accuracy\", \"value\": 0.9117},"
            + " \"inputs\": [\"input_ids\", \"attention_mask\"], \"input_dtype\": \"int32\", \"task\": \"sst2\","
            + " \"future_field\": {\"ignored\": true}}";

    @Test
    public void readsEveryContractField() {
        ModelCard c = ModelCard.parse(FULL);
        assertEquals("w0.5_d0.75_int8", c.name);
        assertEquals(0.5, c.widthMult, 0);
        assertEquals(0.75, c.depthMult, 0);
        assertEquals("ort", c.format);
        assertEquals("int8", c.precision);
        assertEquals(12897280L, c.bytes);
        assertEquals(64, c.maxLength);
        assertTrue(c.doLowerCase);
        assertEquals("accuracy", c.metricName);
        assertEquals(0.9117, c.metricValue, 0);
        assertEquals(Arrays.asList("input_ids", "attention_mask"), c.inputs);
        assertEquals("int32", c.inputDtype);
        assertEquals("model.ort", c.modelFile);
        assertEquals("logits", c.output);
        assertEquals("sst2", c.task);
        assertEquals("width 0.50 · depth 0.75 · ORT int8 · 12.3 MB · accuracy 0.912", c.summary());
    }

    @Test
    public void minimalCardGetsDefaults() {
        ModelCard c = ModelCard.parse("{\"name\": \"m\", \"format\": \"onnx\", \"metric_name\": \"acc\", \"metric_value\": 0.5}");
        assertEquals(1.0, c.widthMult, 0);
        assertEquals(128, c.maxLength);
        assertEquals(-1L, c.bytes);
        assertEquals("fp32", c.precision);
        assertTrue(c.doLowerCase);
        assertNull(c.stripAccents);
        assertTrue(c.tokenizeChineseChars);
        assertEquals(Arrays.asList("input_ids", "attention_mask", "token_type_ids"), c.inputs);
        assertEquals("int64", c.inputDtype);
        assertFalse(c.padToMaxLength);
        assertEquals("model.onnx", c.modelFile);
        assertEquals("acc", c.metricName);
        assertEquals(0.5, c.metricValue, 0);
        assertEquals("width 1.00 · depth 1.00 · ONNX fp32 · acc 0.500", c.summary());
    }

    @Test
    public void casedCardMakesACasedTokenizer() {
        ModelCard c = ModelCard.parse("{\"name\": \"m\", \"format\": \"onnx\", \"do_lower_case\": false}");
        BertTokenizer t = c.tokenizer(Vocab.fromText(TokenizerUnitTest.VOCAB));
        assertFalse(t.doLowerCase());
        assertEquals(Arrays.asList("[UNK]"), t.tokenize("The"));
        assertEquals(Arrays.asList("the"), t.tokenize("the"));
    }

    @Test
    public void rejectsBadCardsWithClearMessages() {
        String[][] bad = {
            {"{\"format\": \"onnx\"}", "'name'"},
            {"{\"name\": \"m\"}", "'format'"},
            {"{\"name\": \"m\", \"format\": \"tflite\"}", "onnx or ort"},
            {"{\"name\": \"m\", \"format\": \"onnx\", \"max_length\": 2}", "max_length"},
            {"{\"name\": \"m\", \"format\": \"onnx\", \"input_dtype\": \"float\"}", "input_dtype"},
            {"{\"name\": \"m\", \"format\": \"onnx\", \"bytes\": \"big\"}", "'bytes'"},
            {"[1]", "expected a JSON object"},
        };
        for (String[] b : bad) {
            try {
                ModelCard.parse(b[0]);
                fail("accepted " + b[0]);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage() + " lacks " + b[1], expected.getMessage().contains(b[1]));
            }
        }
    }

    @Test
    public void formatsBytes() {
        assertEquals("512 B", ModelCard.formatBytes(512));
        assertEquals("2.0 KB", ModelCard.formatBytes(2048));
        assertEquals("1.5 MB", ModelCard.formatBytes(1572864));
    }

    @Test
    public void pairAndRegressionCardsCarryTheTaskShapeAndScale() {
        ModelCard stsb = ModelCard.parse("{\"name\": \"w1_d1_int8\", \"format\": \"onnx\", \"task\": \"stsb\","
                + " \"pair\": true, \"regression\": true, \"score_range\": [0, 5]}");
        assertTrue(stsb.pair);
        assertTrue(stsb.regression);
        assertEquals(0.0, stsb.scoreLow, 0);
        assertEquals(5.0, stsb.scoreHigh, 0);
        assertEquals("3.42 (on 0-5)", stsb.formatScore(3.4249));
        ModelCard plain = ModelCard.parse(FULL);
        assertFalse(plain.pair);
        assertFalse(plain.regression);
        assertTrue(Double.isNaN(plain.scoreLow));
        ModelCard noScale = ModelCard.parse("{\"name\": \"r\", \"format\": \"onnx\", \"regression\": true}");
        assertEquals("-0.50", noScale.formatScore(-0.5));
        String[] bad = {"[5, 0]", "[0]", "[\"a\", 1]", "3"};
        for (String range : bad) {
            try {
                ModelCard.parse("{\"name\": \"r\", \"format\": \"onnx\", \"regression\": true, \"score_range\": "
                        + range + "}");
                fail("accepted score_range " + range);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage(), expected.getMessage().contains("score_range"));
            }
        }
        try {
            ModelCard.parse("{\"name\": \"c\", \"format\": \"onnx\", \"score_range\": [0, 1]}");
            fail("a scale on a classifier card");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("regression"));
        }
    }

    @Test
    public void aBundleCardNamesItsIndexInsideTheFolder() {
        ModelCard c = ModelCard.parse("{\"name\": \"minilm_sst2\", \"bundle\": \"bundle.int8/bundle.json\","
                + " \"precision\": \"int8\"}");
        assertEquals("bundle.int8/bundle.json", c.bundle);
        assertEquals("onnx", c.format);  // the default for a bundle
        assertNull(ModelCard.parse(FULL).bundle);
        String[][] bad = {
            {"\"bundle\": \"../x/bundle.json\"", "'bundle' must be a relative path"},
            {"\"bundle\": \"/sdcard/bundle.json\"", "'bundle' must be a relative path"},
            {"\"bundle\": \"b/bundle.json\", \"format\": \"ort\"", "format must be onnx"},
            {"\"bundle\": 3", "'bundle' must be a string"},
        };
        for (String[] b : bad) {
            try {
                ModelCard.parse("{\"name\": \"m\", " + b[0] + "}");
                fail("accepted " + b[0]);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage(), expected.getMessage().contains(b[1]));
            }
        }
    }

    @Test
    public void readsTheMeasuredSessionSettingsAndRefusesUnknownOnes() {
        ModelCard plain = ModelCard.parse(FULL);
        assertEquals("ORT_ENABLE_ALL", plain.ortOptimizationLevel);
        assertTrue(plain.ortConfigEntries.isEmpty());
        String tuned = FULL.replace("\"task\": \"sst2\",", "\"task\": \"sst2\", \"onnxruntime\": {\"graph_optimization_level\":"
                + " \"ORT_ENABLE_EXTENDED\", \"config_entries\": {\"optimization.disable_specified_optimizers\":"
                + " \"SkipLayerNormFusion\"}},");
        ModelCard c = ModelCard.parse(tuned);
        assertEquals("ORT_ENABLE_EXTENDED", c.ortOptimizationLevel);
        assertEquals("SkipLayerNormFusion", c.ortConfigEntries.get("optimization.disable_specified_optimizers"));
        for (String bad : new String[] {
                "{\"graph_optimization_level\": \"FAST\"}",
                "{\"config_entries\": {\"session.use_env_allocators\": \"1\"}}",
                "{\"config_entries\": {\"optimization.disable_specified_optimizers\": 3}}"}) {
            try {
                ModelCard.parse(FULL.replace("\"task\": \"sst2\",", "\"task\": \"sst2\", \"onnxruntime\": " + bad + ","));
                fail("accepted " + bad);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage(), expected.getMessage().startsWith("model_card.json: onnxruntime."));
            }
        }
    }
}

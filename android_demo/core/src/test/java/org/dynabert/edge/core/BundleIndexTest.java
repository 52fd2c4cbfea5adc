package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;

import org.junit.Test;

public class BundleIndexTest {
    private static final String WHERE = "assets/models/m/bundle.int8/bundle.json";

    @Test
    public void readsTheContractAndKeepsEntriesLargestFirst() throws Exception {
        for (boolean reversed : new boolean[] {false, true}) {
            BundleIndex b = BundleIndex.parse(BundleFixture.index(reversed), WHERE);
            assertEquals("int8", b.precision);
            assertEquals("weights.bin", b.weightsFile);
            assertEquals(70000L, b.weightsBytes);
            assertEquals(BundleFixture.sha(BundleFixture.weights()), b.weightsSha256);
            assertEquals(Arrays.asList("input_ids", "attention_mask"), b.inputs);
            assertEquals(128, b.maxLength);
            assertEquals(Arrays.asList(BundleFixture.NAMES), b.names());
            BundleIndex.Entry e = b.entries.get(2);
            assertEquals("w0.25_d0.5.onnx", e.graph);
            assertEquals(0.25, e.widthMult, 0);
            assertEquals(0.5, e.depthMult, 0);
            assertEquals(125L, e.macs);
            assertEquals(375L, e.params);
            assertEquals("w0.25 · d0.5", e.label());
            assertEquals(1, b.indexOf("w0.5_d1"));
            assertEquals(-1, b.indexOf("nope"));
        }
    }

    @Test
    public void withoutMacsEntriesAreOrderedByParamsThenByWidthTimesDepth() {
        String sha = repeat('a', 64);
        String byParams = index("{\"name\": \"small\", \"width_mult\": 1.0, \"depth_mult\": 1.0, \"graph\": \"s.onnx\","
                + " \"sha256\": \"" + sha + "\", \"params\": 10}, {\"name\": \"big\", \"width_mult\": 0.5,"
                + " \"depth_mult\": 0.5, \"graph\": \"b.onnx\", \"sha256\": \"" + sha + "\", \"params\": 20}");
        assertEquals(Arrays.asList("big", "small"), BundleIndex.parse(byParams, WHERE).names());
        String bySize = index("{\"name\": \"a\", \"width_mult\": 0.5, \"depth_mult\": 1.0, \"graph\": \"a.onnx\","
                + " \"sha256\": \"" + sha + "\"}, {\"name\": \"b\", \"width_mult\": 0.75, \"depth_mult\": 1,"
                + " \"graph\": \"b.onnx\", \"sha256\": \"" + sha.toUpperCase() + "\", \"params\": 5}");
        BundleIndex b = BundleIndex.parse(bySize, WHERE);
        assertEquals(Arrays.asList("b", "a"), b.names());
        assertEquals(sha, b.entries.get(0).sha256);  // upper-case hex accepted, kept lower-case
        assertEquals(-1, b.maxLength);
    }

    @Test
    public void refusesWhatCouldLeaveTheFolderOrIsNotABundle() throws Exception {
        String good = BundleFixture.index(false);
        String graphSha = BundleFixture.sha(BundleFixture.graph("w1_d1"));
        String[][] cases = {
            {good.replace("dynabert-bundle", "something-else"), "not a DynaBERT bundle index"},
            {good.replace("\"version\": 1", "\"version\": 2"), "version 2 is newer than this app reads (1)"},
            {good.replace("\"version\": 1", "\"version\": 1.5"), "'version'"},
            {good.replace("\"precision\": \"int8\", ", ""), "'precision' is required"},
            {good.replace("\"file\": \"weights.bin\"", "\"file\": \"../weights.bin\""), "weights.file must be a plain file name"},
            {good.replace("\"file\": \"weights.bin\"", "\"file\": \"/data/weights.bin\""), "weights.file must be a plain file name"},
            {good.replace("\"file\": \"weights.bin\"", "\"file\": \".hidden\""), "weights.file must be a plain file name"},
            {good.replace("\"bytes\": 70000", "\"bytes\": 0"), "'weights.bytes'"},
            {good.replace("\"graph\": \"w1_d1.onnx\"", "\"graph\": \"sub/w1_d1.onnx\""), "entry 'w1_d1' graph must be a plain file name"},
            {good.replace("\"graph\": \"w1_d1.onnx\"", "\"graph\": \"..\\\\w1_d1.onnx\""), "entry 'w1_d1' graph must be a plain file name"},
            {good.replace("\"graph\": \"w1_d1.onnx\"", "\"graph\": \"w1_d1.bin\""), "must be an .onnx file"},
            {good.replace("\"graph\": \"w1_d1.onnx\"", "\"graph\": \"w0.5_d1.onnx\""), "is used twice"},
            {good.replace("\"name\": \"w1_d1\"", "\"name\": \"w0.5_d1\""), "two entries are named 'w0.5_d1'"},
            {good.replace("\"name\": \"w1_d1\"", "\"name\": \"a b\""), "entries[0].name must be a plain name"},
            {good.replace("\"width_mult\": 1.0", "\"width_mult\": 1.5"), "'width_mult' must be in (0, 1]"},
            {good.replace("\"depth_mult\": 1.0", "\"depth_mult\": \"1\""), "'depth_mult' must be a number"},
            {good.replace(graphSha, graphSha.substring(1)), "entry 'w1_d1' sha256 must be 64 hex digits"},
            {good.replace(graphSha, "z" + graphSha.substring(1)), "entry 'w1_d1' sha256 must be 64 hex digits"},
            {good.replace("\"macs\": 1000", "\"macs\": -3"), "'macs' must be a non-negative integer"},
            {good.replace("\"max_length\": 128", "\"max_length\": 2"), "'max_length' must be at least 3"},
            {good.substring(0, good.indexOf("\"entries\"")) + "\"entries\": []}", "'entries' must be a non-empty list"},
            {"[1, 2]", "expected a JSON object"},
            {"{\"format\": ", "not valid JSON"},
        };
        for (String[] c : cases) {
            try {
                BundleIndex.parse(c[0], WHERE);
                fail("accepted: " + c[1]);
            } catch (IllegalArgumentException e) {
                assertTrue(c[1] + " -> " + e.getMessage(), e.getMessage().startsWith(WHERE + ": "));
                assertTrue(c[1] + " -> " + e.getMessage(), e.getMessage().contains(c[1]));
            }
        }
    }

    @Test
    public void boundsTheNumberOfEntries() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < BundleIndex.MAX_ENTRIES + 1; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append("{\"name\": \"e").append(i).append("\", \"width_mult\": 1, \"depth_mult\": 1, \"graph\": \"e")
                    .append(i).append(".onnx\", \"sha256\": \"").append(repeat('0', 64)).append("\"}");
        }
        try {
            BundleIndex.parse(index(sb.toString()), WHERE);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("at most " + BundleIndex.MAX_ENTRIES));
        }
    }

    @Test
    public void relativePathsStayInsideTheirFolder() {
        assertEquals(Arrays.asList("bundle.int8", "bundle.json"), BundleIndex.relativePath("bundle.int8/bundle.json", "x"));
        assertEquals(Arrays.asList("bundle.json"), BundleIndex.relativePath("bundle.json", "x"));
        for (String bad : new String[] {"", "/bundle.json", "../bundle.json", "a/../b.json", "a//b.json", "a/",
                ".hidden/bundle.json", "a\\b.json", "a/./b.json", "ü/bundle.json"}) {
            try {
                BundleIndex.relativePath(bad, "model_card.json: 'bundle'");
                fail("accepted " + bad);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().startsWith("model_card.json: 'bundle'"));
            }
        }
    }

    private static String index(String entries) {
        return "{\"format\": \"dynabert-bundle\", \"version\": 1, \"precision\": \"fp32\", \"weights\": {\"file\":"
                + " \"weights.bin\", \"bytes\": 10, \"sha256\": \"" + repeat('b', 64) + "\"}, \"entries\": ["
                + entries + "]}";
    }

    static String repeat(char c, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(c);
        }
        return sb.toString();
    }
}

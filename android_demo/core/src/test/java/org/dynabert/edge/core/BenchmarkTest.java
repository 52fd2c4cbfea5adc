package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.Test;

public class BenchmarkTest {
    @Test
    public void statsFollowNumpyDefinitions() {
        LatencyStats s = LatencyStats.ofMillis(new double[] {4, 1, 3, 2});
        assertEquals(2.5, s.mean, 0);
        assertEquals(2.5, s.median, 0);
        assertEquals(3.7, s.p90, 1e-12); // numpy.percentile([1,2,3,4], 90)
        assertEquals(1.0, s.min, 0);
        assertEquals(4.0, s.max, 0);
        assertEquals(Math.sqrt(1.25), s.std, 1e-12);
        assertEquals(1.5, LatencyStats.ofNanos(new long[] {1500000}).median, 0);
        try {
            LatencyStats.ofMillis(new double[0]);
            fail("empty accepted");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("no samples"));
        }
    }

    @Test
    public void runsWarmupThenTimedRunsAndWritesTheReport() throws Exception {
        TextClassifierTest.FakeModel model = new TextClassifierTest.FakeModel();
        TextClassifier clf = new TextClassifier(TokenizerUnitTest.tok(), model, Labels.parse("[\"n\",\"p\"]"), 8, false);
        final List<Integer> progress = new ArrayList<Integer>();
        Benchmark.ModelRun run = Benchmark.run(clf, new String[] {"the", "the cafe cafe cafe cafe cafe cafe"}, 2, 5,
                new Benchmark.Progress() {
                    @Override
                    public boolean onRun(int done, int total) {
                        progress.add(Integer.valueOf(done));
                        return true;
                    }
                });
        assertEquals(7, model.seen.size());
        assertEquals(5, run.totalNanos.length);
        assertEquals(5, progress.size());
        assertEquals(3, run.sequenceLengths[0]);
        assertEquals(8, run.sequenceLengths[1]); // truncated to max_length

        ModelCard card = ModelCard.parse(ModelCardTest.FULL);
        List<Map<String, Object>> models = new ArrayList<Map<String, Object>>();
        models.add(Benchmark.modelEntry(card, 12.5, run));
        models.add(Benchmark.failedEntry("broken", null, new IllegalStateException("no model.onnx")));
        Map<String, Object> device = new LinkedHashMap<String, Object>();
        device.put("model", "Pixel Test");
        String json = Benchmark.report(device, new LinkedHashMap<String, Object>(), new LinkedHashMap<String, Object>(),
                models, 1000L, 2000L);

        Map<String, Object> root = Json.asObject(Json.parse(json), "report");
        assertEquals(Benchmark.SCHEMA, root.get("schema"));
        assertEquals("partial", root.get("status"));
        List<Object> ms = Json.asArray(root.get("models"), "models");
        Map<String, Object> ok = Json.asObject(ms.get(0), "m0");
        assertEquals("w0.5_d0.75_int8", ok.get("name"));
        assertEquals("ok", ok.get("status"));
        assertEquals(Long.valueOf(5), Json.asObject(ok.get("model_ms"), "model_ms").get("count"));
        assertEquals(Long.valueOf(3), ok.get("seq_len_min"));
        assertEquals("p", Json.asObject(ok.get("first_prediction"), "fp").get("label"));
        assertNull(ok.get("error"));
        Map<String, Object> bad = Json.asObject(ms.get(1), "m1");
        assertEquals("error", bad.get("status"));
        assertEquals("broken", bad.get("name"));
        assertEquals("IllegalStateException: no model.onnx", bad.get("error"));
    }

    @Test
    public void cancellingStopsTheRun() throws Exception {
        TextClassifier clf = new TextClassifier(TokenizerUnitTest.tok(), new TextClassifierTest.FakeModel(),
                Labels.parse("[\"n\",\"p\"]"), 8, false);
        try {
            Benchmark.run(clf, new String[] {"the"}, 0, 10, new Benchmark.Progress() {
                @Override
                public boolean onRun(int done, int total) {
                    return done < 3;
                }
            });
            fail("not cancelled");
        } catch (InterruptedException expected) {
            assertTrue(expected.getMessage().contains("cancelled"));
        }
    }

    @Test
    public void emptyModelListIsReportedAsSuch() {
        String json = Benchmark.report(new LinkedHashMap<String, Object>(), new LinkedHashMap<String, Object>(),
                new LinkedHashMap<String, Object>(), new ArrayList<Map<String, Object>>(), 1L, 2L);
        assertEquals("no_models", Json.asObject(Json.parse(json), "r").get("status"));
    }

    @Test
    public void bundleEntriesAndSwitchesGoUnderBundlesNotModels() throws Exception {
        TextClassifier clf = new TextClassifier(TokenizerUnitTest.tok(), new TextClassifierTest.FakeModel(),
                Labels.parse("[\"n\",\"p\"]"), 8, false);
        Benchmark.ModelRun run = Benchmark.run(clf, new String[] {"the"}, 0, 3, null);
        BundleIndex index = SwitcherTest.index();
        SwitcherTest.FakeClock clock = new SwitcherTest.FakeClock();
        SwitcherTest.FakeLoader loader = new SwitcherTest.FakeLoader(clock);
        Switcher<SwitcherTest.FakeSession> sw = new Switcher<SwitcherTest.FakeSession>(index, loader, loader, 2, clock);
        SwitchLog.Event e = sw.switchTo(1, "benchmark");
        List<Object> entries = new ArrayList<Object>();
        entries.add(Benchmark.bundleEntry(index, index.entries.get(1), e, run));
        entries.add(Benchmark.failedBundleEntry(index.entries.get(2), new IllegalStateException("bad graph")));
        Map<String, Object> bundle = new LinkedHashMap<String, Object>();
        bundle.put("folder", "m");
        bundle.put("status", "partial");
        bundle.put("entries", entries);
        bundle.put("switches", sw.log().toMap());
        List<Map<String, Object>> bundles = new ArrayList<Map<String, Object>>();
        bundles.add(bundle);
        String json = Benchmark.report(new LinkedHashMap<String, Object>(), new LinkedHashMap<String, Object>(),
                new LinkedHashMap<String, Object>(), new ArrayList<Map<String, Object>>(), bundles, 1L, 2L);
        Map<String, Object> root = Json.asObject(Json.parse(json), "r");
        assertEquals("partial", root.get("status"));
        assertTrue(Json.asArray(root.get("models"), "models").isEmpty());
        Map<String, Object> b = Json.asObject(Json.asArray(root.get("bundles"), "bundles").get(0), "b");
        Map<String, Object> ok = Json.asObject(Json.asArray(b.get("entries"), "entries").get(0), "e0");
        assertEquals("w0.5_d1", ok.get("name"));
        assertEquals("int8", ok.get("precision"));
        assertEquals(Long.valueOf(500), ok.get("macs"));
        assertEquals(Long.valueOf(3), Json.asObject(ok.get("model_ms"), "model_ms").get("count"));
        Map<String, Object> sw0 = Json.asObject(ok.get("switch"), "switch");
        assertEquals("created", sw0.get("session"));
        assertEquals(107.0, ((Number) sw0.get("total_ms")).doubleValue(), 1e-9);
        Map<String, Object> bad = Json.asObject(Json.asArray(b.get("entries"), "entries").get(1), "e1");
        assertEquals("IllegalStateException: bad graph", bad.get("error"));
        assertEquals(Long.valueOf(1), Json.asObject(b.get("switches"), "s").get("count"));

        bundle.put("status", "ok");
        json = Benchmark.report(new LinkedHashMap<String, Object>(), new LinkedHashMap<String, Object>(),
                new LinkedHashMap<String, Object>(), new ArrayList<Map<String, Object>>(), bundles, 1L, 2L);
        assertEquals("ok", Json.asObject(Json.parse(json), "r").get("status"));
    }
}

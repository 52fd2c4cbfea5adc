"""Issue #16 (INT8 at the FLOPs limit): the INT8 graph's ops, the session settings that ship with it, and
the ``.ort`` / ``.pte`` files built with them. Properties that can fail, no timings (those are in
benchmarks/int8_speed.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from export import session_settings as S
from export.onnx_export import export_onnx, wrap
from export.quantize import quantize_dynamic_int8

NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def _tiny_bert() -> BertForSequenceClassification:
    """4 layers, hidden 48, 3 labels; 1100 tokens because the exporter's example ids are 1000."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=1100, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=64, num_labels=3, max_position_embeddings=64)
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def int8_graph(tmp_path_factory) -> Path:
    """A tiny BERT classifier's INT8 graph, built the way export builds model.int8.onnx."""
    folder = tmp_path_factory.mktemp("int8")
    plain = folder / "plain.onnx"
    export_onnx(wrap(_tiny_bert(), NAMES), NAMES, plain)
    final = folder / "model.int8.onnx"
    quantize_dynamic_int8(plain, folder, final)
    return final


def _feeds(seq: int = 12) -> list[dict[str, np.ndarray]]:
    ids = np.arange(3, 3 + seq, dtype=np.int64)[None, :]
    return [{"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}]


def _optimized_ops(path: Path, settings: dict, out: Path) -> Counter:
    """Op types of the graph ONNX Runtime runs for ``path`` under ``settings`` (saved after optimization)."""
    options = S.apply(settings)
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return Counter(node.op_type for node in onnx.load(str(out)).graph.node)


def test_int8_graph_quantizes_every_matmul_and_the_embedding_tables(int8_graph):
    model = onnx.load(str(int8_graph))
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops["MatMulInteger"] > 0 and ops["DynamicQuantizeLinear"] > 0
    # The remaining fp32 MatMuls are the activation x activation ones (scores, context), two per layer.
    assert ops["MatMul"] == 2 * 4
    tables = {i.name: i for i in model.graph.initializer if "embeddings" in i.name and i.name.endswith("_quantized")}
    assert {n.split(".")[-2] for n in tables} == {"word_embeddings", "position_embeddings", "token_type_embeddings"}
    assert all(t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) for t in tables.values())
    # No fp32 copy of a table is left behind.
    assert not [i.name for i in model.graph.initializer if i.name.endswith("word_embeddings.weight")]


def test_settings_round_trip_through_json_and_validation():
    for settings in (*S.CANDIDATES, S.ARM_DEFAULT):
        assert S.validate(json.loads(json.dumps(settings))) == S.validate(settings)
    assert S.validate({}) == S.DEFAULT
    assert S.validate({"disabled_optimizers": ["B", "A", "A"]})["disabled_optimizers"] == ["A", "B"]


@pytest.mark.parametrize("bad, words", [
    ({"graph_optimisation_level": "ORT_ENABLE_ALL"}, "unknown session setting"),
    ({"graph_optimization_level": "ALL"}, "is not one of"),
    ({"disabled_optimizers": "SkipLayerNormFusion"}, "list of optimizer names"),
    ({"disabled_optimizers": ["A;B"]}, "list of optimizer names"),
    (["SkipLayerNormFusion"], "JSON object"),
])
def test_bad_settings_are_one_line_errors(bad, words):
    with pytest.raises(S.SettingsError, match=words) as info:
        S.validate(bad)
    assert "\n" not in str(info.value)


def test_apply_sets_level_and_config_entry():
    options = S.apply({"graph_optimization_level": "ORT_ENABLE_EXTENDED",
                       "disabled_optimizers": ["SkipLayerNormFusion", "GeluFusionL1"]})
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert options.get_session_config_entry(S.DISABLE_KEY) == "GeluFusionL1;SkipLayerNormFusion"
    assert S.config_entries(S.DEFAULT) == {}
    assert S.config_entries(S.NO_SKIP_LAYER_NORM) == {S.DISABLE_KEY: "SkipLayerNormFusion"}


def test_disabling_skip_layer_norm_fusion_takes_effect(int8_graph, tmp_path):
    default = _optimized_ops(int8_graph, S.DEFAULT, tmp_path / "default.onnx")
    chosen = _optimized_ops(int8_graph, S.NO_SKIP_LAYER_NORM, tmp_path / "noskip.onnx")
    assert default["SkipLayerNormalization"] > 0  # the fusion the setting exists for does happen by default
    assert chosen["SkipLayerNormalization"] == 0
    assert chosen["LayerNormalization"] == default["LayerNormalization"] + default["SkipLayerNormalization"]


def test_comma_separated_disable_list_is_ignored_by_onnxruntime(int8_graph, tmp_path):
    """Why config_entries joins with ';': ONNX Runtime silently ignores a ','-separated list."""
    options = ort.SessionOptions()
    options.add_session_config_entry(S.DISABLE_KEY, "SkipLayerNormFusion,GeluFusionL1")
    options.optimized_model_filepath = str(tmp_path / "comma.onnx")
    ort.InferenceSession(str(int8_graph), options, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "comma.onnx")).graph.node)
    assert ops["SkipLayerNormalization"] > 0


def test_settings_keep_the_outputs(int8_graph):
    feed = _feeds()[0]
    a = S.session(int8_graph, S.DEFAULT).run(None, feed)[0]
    b = S.session(int8_graph, S.NO_SKIP_LAYER_NORM).run(None, feed)[0]
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_choose_returns_a_candidate_with_its_timings(int8_graph):
    result = S.choose(int8_graph, _feeds(), rounds=2)
    assert result["settings"] in [S.validate(c) for c in S.CANDIDATES]
    assert set(result["timings_ms"]) == {S.label(c) for c in S.CANDIDATES}
    assert all(t > 0 for t in result["timings_ms"].values())
    arm = S.choose(int8_graph, [], target="arm")  # not timed: no inputs needed
    assert arm["settings"] == S.validate(S.ARM_DEFAULT) and "timings_ms" not in arm


def test_each_visit_is_timed_after_an_untimed_run(monkeypatch):
    """time_sessions interleaves sessions; the first run after a switch (cold caches, 10x here) is not what
    is compared: with one feed, without the untimed run every timed run would be a first run."""
    clock = [0.0]
    last = [None]

    class Session:
        def __init__(self, cost):
            self.cost = cost

        def run(self, _, feed):
            clock[0] += self.cost * (10 if last[0] is not self else 1)
            last[0] = self

    costs = {"a": 0.001, "b": 0.002}
    monkeypatch.setattr(S, "session", lambda path, settings, threads=1: Session(costs[path]))
    monkeypatch.setattr(S.time, "thread_time", lambda: clock[0])
    ms = S.time_sessions([("a", S.DEFAULT), ("b", S.DEFAULT)], [{}], rounds=3)
    assert ms == pytest.approx([1.0, 2.0])


def test_ort_file_is_converted_without_the_disabled_fusion(int8_graph, tmp_path):
    from export.ort_format import convert_to_ort, write_required_operators

    ops = {}
    for name, settings in (("default", None), ("noskip", S.NO_SKIP_LAYER_NORM)):
        path = tmp_path / f"{name}.ort"
        record = convert_to_ort(int8_graph, tmp_path, path, session_settings=settings)
        config = tmp_path / f"{name}.config"
        write_required_operators([path], config)
        ops[name] = config.read_text()
        assert ("session_settings" in record) == (settings is not None)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.run(None, _feeds()[0])[0].shape == (1, 3)
    assert "SkipLayerNormalization" in ops["default"]
    assert "SkipLayerNormalization" not in ops["noskip"]


# ---------------------------------------------------------------------------------------------- .pte INT8


def test_int8_embedding_rounds_each_row_to_its_own_scale():
    from export.pte import Int8Embedding

    torch.manual_seed(0)
    table = torch.randn(50, 16) * torch.logspace(-3, 0, 50)[:, None]  # rows of very different ranges
    quantized = Int8Embedding(table)
    assert quantized.weight.dtype == torch.int8 and quantized.scales.shape == (50, 1)
    ids = torch.arange(50)[None, :]
    error = (quantized(ids)[0] - table).abs()
    assert torch.all(error <= quantized.scales / 2 + 1e-7)  # half a step of the row's own scale
    assert error[:10].max() < 1e-4  # small rows keep their precision (a per-table scale would zero them)


@pytest.mark.skipif(not __import__("export.formats", fromlist=["tool_available"]).tool_available("executorch"),
                    reason="executorch is not installed")
def test_pte_int8_stores_the_embedding_tables_as_int8(tmp_path):
    from export.pte import export_pte

    torch.manual_seed(0)
    config = BertConfig(vocab_size=6000, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, num_labels=3, max_position_embeddings=64)
    model = BertForSequenceClassification(config).eval()
    int8 = tmp_path / "model.int8.pte"
    details = export_pte(model, NAMES, 32, int8, int8=True)
    assert details["embeddings"]["tables"]["word_embeddings"] == [6000, 48]
    assert isinstance(model.bert.embeddings.word_embeddings, torch.nn.Embedding)  # the caller's model untouched
    # The word table alone is 1.15 MB in fp32 and 0.29 MB in int8 (+ 24 kB of scales); the rest of the
    # model is ~0.1 MB: a file under half the fp32 table cannot hold it in fp32.
    assert int8.stat().st_size < 0.5 * (6000 * 48 * 4)
    # It runs on the stock runtime (portable kernels; no quantized-kernel library is loaded here).
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(int8)).load_method("forward")
    ids = torch.arange(5, 29)[None, :]
    args = [ids, torch.ones_like(ids), torch.zeros_like(ids)]
    got = method.execute(args)[0]
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=args[1], token_type_ids=args[2]).logits
    assert torch.allclose(got, want, atol=0.05) and int(got.argmax()) == int(want.argmax())


# ---------------------------------------------------------------------------------------------- fp32 graph


def test_fused_fp32_graph_has_no_skip_layer_norm_and_ships_with_settings(tmp_path):
    from export.inputs import Inputs
    from export.optimize import choose_graph, fuse

    plain = tmp_path / "plain.onnx"
    export_onnx(wrap(_tiny_bert(), NAMES), NAMES, plain)
    stats = fuse(plain, tmp_path / "fused.onnx")
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "fused.onnx")).graph.node)
    # The fusions that do help still happen: Attention in every layer but the last, which computes one
    # query row (export.wrapper.first_token_layer), a pattern the fusion does not match.
    assert stats.get("Attention") and ops["Attention"] == 4 - 1
    assert ops["SkipLayerNormalization"] == 0 and "SkipLayerNormalization" not in stats
    inputs = Inputs(NAMES, _feeds(), ["test"], "dev")
    record = choose_graph(plain, tmp_path, tmp_path / "model.onnx", inputs)
    assert record["graph"] in ("plain", "fused")
    assert record["session_settings"]["settings"] in [S.validate(c) for c in S.CANDIDATES]
    assert len(record["latency_ms"]) == 2 * len(S.CANDIDATES)
    assert not (tmp_path / "fused.onnx").exists()  # the scratch copy is cleaned up


def test_the_measured_settings_travel_with_the_file_to_the_app_card(tiny_export):
    """export ships each ONNX file's chosen settings as the artifact's top-level session_settings (what every
    runtime applies), device_bench opens the file with them, and pick turns them into the card's
    ``onnxruntime`` record the app applies (ModelCard.ortConfigEntries)."""
    import json

    from device_bench.manifest_reader import read_manifest
    from device_bench.pick import ort_card_settings
    from dynabert import runtimes as catalogue

    manifest = read_manifest(tiny_export)
    raw = {a["id"]: a for a in json.loads(tiny_export.read_text())["artifacts"]}
    int8 = [a for a in manifest.artifacts if a.format == "onnx-int8"]
    assert int8
    for artifact in int8:
        chosen = raw[artifact.id]["details"]["session_settings"]
        assert artifact.session_settings == chosen["settings"] == S.validate(chosen["settings"])
        assert chosen["chosen_by"]
        session = catalogue.open_session("onnxruntime-cpu", artifact.path, threads=1,
                                         settings=artifact.session_settings)
        session.close()
        card = ort_card_settings(artifact.session_settings)["onnxruntime"]
        assert card["graph_optimization_level"] == artifact.session_settings["graph_optimization_level"]
        assert card["config_entries"] == S.config_entries(artifact.session_settings)
    ort = [a for a in manifest.artifacts if a.format == "ort"]
    assert ort and all(a.session_settings == S.validate(S.ARM_DEFAULT) for a in ort)
    assert ort_card_settings({}) == {}

"""The MultiHeadAttention INT8 candidate (export.mha, export.optimize.choose_int8_graph): every traced
attention becomes one node with the same outputs, what does not match is left alone, and export keeps the
faster of the two quantized graphs with its settings. Properties only; the speed is measured in
benchmarks/int8_speed.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

from device_bench import app_runtime
from export import session_settings as S
from export.inputs import Inputs
from export.mha import fuse_multihead_attention, write_mha_graph
from export.onnx_export import export_onnx, wrap

LAYERS = 4


def _tiny(kind: str, attention: str = "eager") -> tuple[torch.nn.Module, list[str]]:
    """Eager attention, as export traces it (export.wrapper.load_eager)."""
    torch.manual_seed(0)
    common = dict(vocab_size=1100, hidden_size=48, num_hidden_layers=LAYERS, num_attention_heads=4,
                  intermediate_size=64, num_labels=3, max_position_embeddings=70, attn_implementation=attention)
    if kind == "bert":
        return BertForSequenceClassification(BertConfig(**common)).eval(), ["input_ids", "attention_mask",
                                                                             "token_type_ids"]
    return RobertaForSequenceClassification(RobertaConfig(**common)).eval(), ["input_ids", "attention_mask"]


@pytest.fixture(scope="module", params=["bert", "roberta"])
def plain(request, tmp_path_factory) -> tuple[Path, list[str]]:
    model, names = _tiny(request.param)
    path = tmp_path_factory.mktemp(request.param) / "plain.onnx"
    export_onnx(wrap(model, names), names, path)
    return path, names


def _batch(names: list[str]) -> dict[str, np.ndarray]:
    """Batch 3: unpadded, padded on the right, padded on the left (the node's mask is the model's own)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1100, size=(3, 20), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 12:] = 0
    mask[2, :7] = 0
    values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {n: values[n] for n in names}


def _run(path: Path, feed: dict) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feed)[0]


def _ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_every_attention_becomes_one_node_with_the_same_outputs(plain, tmp_path):
    path, names = plain
    fused = tmp_path / "mha.onnx"
    assert write_mha_graph(path, fused) == LAYERS  # the first-token last layer included
    ops = _ops(fused)
    assert ops["MultiHeadAttention"] == LAYERS
    assert ops["Softmax"] == 0 and ops["Transpose"] == 0  # the head split and merge went into the node
    # The projections reading one input are one MatMul, split: q/k/v in every layer but the first-token one,
    # whose query reads one token (k/v merged there).
    assert ops["MatMul"] == 4 * LAYERS + 1 and ops["Split"] == LAYERS
    producer = {o: n for n in onnx.load(str(fused)).graph.node for o in n.output}
    nodes = [n for n in onnx.load(str(fused)).graph.node if n.op_type == "MultiHeadAttention"]
    assert [[producer[i].op_type for i in n.input[:3]] for n in nodes] == \
        [["Split"] * 3] * (LAYERS - 1) + [["Add", "Split", "Split"]]
    model = onnx.load(str(fused))
    assert any(o.domain == "com.microsoft" for o in model.opset_import)
    onnx.checker.check_model(model)
    feed = _batch(names)
    np.testing.assert_allclose(_run(fused, feed), _run(path, feed), atol=1e-5)


def test_a_mask_not_built_from_attention_mask_is_left_as_traced(plain):
    """An additive mask that is not ``(1 - attention_mask) * large negative`` (here: the fill made -100)
    matches no layer: nothing is rewritten, no node added."""
    path, _ = plain
    model = onnx.load(str(path))
    tampered = 0
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            value = numpy_helper.to_array(node.attribute[0].t)
            if value.size == 1 and value.dtype == np.float32 and float(value.reshape(-1)[0]) <= -1e4:
                node.attribute[0].t.CopyFrom(numpy_helper.from_array(np.full(value.shape, -100.0, np.float32)))
                tampered += 1
    for t in model.graph.initializer:
        value = numpy_helper.to_array(t)
        if value.size == 1 and value.dtype == np.float32 and float(value.reshape(-1)[0]) <= -1e4:
            t.CopyFrom(numpy_helper.from_array(np.full(value.shape, -100.0, np.float32), t.name))
            tampered += 1
    assert tampered  # the fixture really has the fill to tamper with
    before = len(model.graph.node)
    assert fuse_multihead_attention(model) == 0
    assert len(model.graph.node) == before


def test_an_sdpa_trace_is_left_as_traced(tmp_path):
    """PyTorch's SDPA attention traces to another pattern (the scale computed from the shape, applied to query
    and key): not matched, nothing rewritten."""
    model, names = _tiny("bert", attention="sdpa")
    export_onnx(wrap(model, names), names, tmp_path / "sdpa.onnx")
    graph = onnx.load(str(tmp_path / "sdpa.onnx"))
    assert fuse_multihead_attention(graph) == 0
    assert not write_mha_graph(tmp_path / "sdpa.onnx", tmp_path / "mha.onnx") and not (tmp_path / "mha.onnx").exists()


def test_a_layer_with_another_head_split_is_left_as_traced(plain):
    """One layer's query split with other perms (not the [0, 2, 1, 3] the node computes) stays traced; the
    other layers are still fused."""
    path, _ = plain
    model = onnx.load(str(path))
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    producer = {o: n for n in model.graph.node for o in n.output}
    scores = producer[producer[producer[softmax.input[0]].input[0]].input[0]]  # Softmax <- Add <- Div <- MatMul
    query_transpose = producer[scores.input[0]]
    next(a for a in query_transpose.attribute if a.name == "perm").ints[:] = [0, 1, 2, 3]
    assert fuse_multihead_attention(model) == LAYERS - 1
    assert Counter(n.op_type for n in model.graph.node)["Softmax"] == 1


def _inputs(names: list[str]) -> Inputs:
    feed = _batch(names)
    return Inputs(names, [{n: v[:1] for n, v in feed.items()}, {n: v[1:2] for n, v in feed.items()}],
                  ["a", "b"], "dev")


@pytest.mark.parametrize("faster", ["plain", "mha"])
def test_export_keeps_the_faster_int8_graph_with_its_settings(plain, tmp_path, monkeypatch, faster):
    """The two quantized graphs are timed under every candidate setting; the faster pair's graph is the file,
    its settings the ones that ship. The clock is replaced so that ``faster`` wins by 10 %."""
    from export import optimize

    path, names = plain

    def timed(pairs, feeds, *args):
        ms = [1.0] * len(pairs)
        if faster == "mha":
            ms[len(S.CANDIDATES) + 1] = 0.9  # mha with the second candidate setting
        return ms

    monkeypatch.setattr(optimize.S, "time_sessions", timed)
    final = tmp_path / "model.int8.onnx"
    record = optimize.choose_int8_graph(path, tmp_path, final, _inputs(names))
    assert record["mha_layers"] == LAYERS and record["method"] == "dynamic"
    assert record["graph"] == faster
    assert len(record["latency_ms"]) == 2 * len(S.CANDIDATES)
    expected = S.validate(S.CANDIDATES[1] if faster == "mha" else S.CANDIDATES[0])
    assert record["session_settings"]["settings"] == expected
    ops = _ops(final)
    assert ops["MultiHeadAttention"] == (LAYERS if faster == "mha" else 0)
    # Both graphs quantize every projection: no MatMul with a constant weight is left fp32. The MHA graph has
    # 4 per layer (merged q/k/v, attention output, the two FFN), one more in the first-token layer (its query);
    # both: the pooler and the classifier.
    model = onnx.load(str(final))
    weights = {t.name for t in model.graph.initializer}
    assert not [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    assert ops["MatMulInteger"] == (4 * LAYERS + 1 if faster == "mha" else 6 * LAYERS) + 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx"]  # scratch files removed


def test_a_gain_below_the_threshold_keeps_the_plain_graph(plain, tmp_path, monkeypatch):
    from export import optimize

    path, names = plain
    monkeypatch.setattr(optimize.S, "time_sessions",
                        lambda pairs, feeds, *a: [1.0] * len(S.CANDIDATES) + [1.0 - S.MIN_GAIN / 2] * len(S.CANDIDATES))
    record = optimize.choose_int8_graph(path, tmp_path, tmp_path / "model.int8.onnx", _inputs(names))
    assert record["graph"] == "plain"


def test_the_quantized_mha_graph_keeps_the_outputs_and_converts_to_ort(plain, tmp_path):
    """The MultiHeadAttention INT8 file is as close to fp32 as the plain INT8 file, and its ``.ort`` (what the
    app loads) runs with the same outputs and lists the contrib op for a reduced build."""
    from export.ort_format import convert_to_ort, write_required_operators
    from export.quantize import quantize_dynamic_int8

    path, names = plain
    mha = tmp_path / "mha.onnx"
    write_mha_graph(path, mha)
    quantize_dynamic_int8(mha, tmp_path, tmp_path / "mha.int8.onnx", {"DefaultTensorType": onnx.TensorProto.FLOAT})
    quantize_dynamic_int8(path, tmp_path, tmp_path / "plain.int8.onnx")
    feed = _batch(names)
    reference = _run(path, feed)
    plain_err = np.abs(_run(tmp_path / "plain.int8.onnx", feed) - reference).max()
    mha_err = np.abs(_run(tmp_path / "mha.int8.onnx", feed) - reference).max()
    assert mha_err < 0.05 and mha_err < 2 * plain_err + 1e-3
    convert_to_ort(tmp_path / "mha.int8.onnx", tmp_path, tmp_path / "mha.int8.ort", session_settings=S.ARM_DEFAULT)
    np.testing.assert_allclose(_run(tmp_path / "mha.int8.ort", feed), _run(tmp_path / "mha.int8.onnx", feed),
                               atol=1e-4)
    if app_runtime.available():  # the app's ONNX Runtime (older than the exporter's): same outputs
        assert app_runtime.load_error([tmp_path / "mha.int8.ort"]) is None
        np.savez(tmp_path / "feed.npz", **feed)
        script = ("import sys, numpy as np, onnxruntime as ort; feed = dict(np.load(sys.argv[2])); "
                  "np.save(sys.argv[3], ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])"
                  ".run(None, feed)[0])")
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "mha.int8.ort"), str(tmp_path / "feed.npz"),
                        str(tmp_path / "app.npy")], check=True, env={**os.environ,
                                                                    "PYTHONPATH": str(app_runtime.APP_ORT_PYTHON)})
        np.testing.assert_allclose(np.load(tmp_path / "app.npy"), _run(tmp_path / "mha.int8.ort", feed), atol=1e-4)
    config = tmp_path / "required_operators.config"
    write_required_operators([tmp_path / "mha.int8.ort"], config)
    assert "com.microsoft" in config.read_text() and "MultiHeadAttention" in config.read_text()

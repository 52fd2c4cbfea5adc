"""Constant Reshape targets (export.static_reshape): what shape inference proves becomes a constant, nothing
else does, and the exported graphs still compute the stock logits at any batch and sequence length."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

from export.onnx_export import export_onnx, wrap
from export.static_reshape import _target, make_reshapes_static


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _dynamic_reshape_graph(tail: list[int], keep_leading: int) -> onnx.ModelProto:
    """x (batch, seq, 6) reshaped to ``[x.shape[:keep_leading]..., *tail]``, the target computed at run time
    (Shape -> Slice -> Concat, as a tracer writes it)."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "lead"], ["leading"]),
        helper.make_node("Concat", ["leading", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([keep_leading], np.int64), "lead"),
             numpy_helper.from_array(np.array(tail, np.int64), "tail")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("tail,keep_leading,expected", [
    ([2, 3], 2, [0, 0, 2, 3]),   # the head split: leading dims copied, the rest constant
    ([-1], 2, [0, 0, 6]),        # a -1 that inference resolves to a constant
    ([-1, 3], 1, [0, -1, 3]),    # (batch, seq*2, 3): the merged dim is the single -1
])
def test_proven_targets_become_constants_and_keep_the_result(tail, keep_leading, expected):
    model = _dynamic_reshape_graph(tail, keep_leading)
    feeds = {"x": np.random.default_rng(0).standard_normal((3, 5, 6)).astype(np.float32)}
    before = _run(model, feeds)[0]
    changed = make_reshapes_static(model)
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    assert changed == 1
    target = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == reshape.input[1])
    assert target.tolist() == expected
    assert {n.op_type for n in model.graph.node} == {"Reshape"}  # the shape arithmetic is gone
    np.testing.assert_array_equal(_run(model, feeds)[0], before)
    other = {"x": np.ones((1, 9, 6), np.float32)}  # another batch and length: nothing was specialised
    assert _run(model, other)[0].shape == _run(_dynamic_reshape_graph(tail, keep_leading), other)[0].shape


def test_a_flatten_is_never_given_a_copy_dimension():
    """(batch, seq, 6) -> (batch*seq, 6): dim 0 of the output is not the input's dim 0, so it must not be 0."""
    assert _target(["batch", "seq", 6], ["batch*seq", 6]) == [-1, 6]
    assert _target(["batch", "seq", 6], ["batch*seq", "x"]) is None  # two unknowns: left dynamic
    assert _target(["batch", "seq", 6], ["seq", "batch", 6]) is None  # a transpose-like target: no proof
    assert _target(["seq", "batch"], ["batch", "seq"]) is None


def test_allowzero_reshapes_are_left_alone():
    model = _dynamic_reshape_graph([2, 3], 2)
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    reshape.attribute.append(helper.make_attribute("allowzero", 1))
    assert make_reshapes_static(model) == 0
    assert Counter(n.op_type for n in model.graph.node)["Shape"] == 1


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_exported_attention_has_constant_targets_and_stock_logits(model_type, tmp_path):
    """A traced classifier with pruned heads: every attention Reshape reads a constant, the per-layer shape
    ops are gone, and the logits equal the PyTorch model's at batch 1 and at batch 3 with padding."""
    torch.manual_seed(0)
    config_class, model_class = ((BertConfig, BertForSequenceClassification) if model_type == "bert"
                                 else (RobertaConfig, RobertaForSequenceClassification))
    model = model_class(config_class(vocab_size=1100, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
                                     intermediate_size=64, num_labels=3, max_position_embeddings=72,
                                     attn_implementation="eager")).eval()
    model.prune_heads({0: [1], 1: [0, 2]})
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if model_type == "bert" else [])
    path = tmp_path / "model.onnx"
    export_onnx(wrap(model, names), names, path)
    graph = onnx.load(str(path)).graph
    constants = {t.name for t in graph.initializer}
    reshapes = [n for n in graph.node if n.op_type == "Reshape" and "/attention/" in n.name]
    assert len(reshapes) == 4 * 3 and all(n.input[1] in constants for n in reshapes)  # q, k, v, context
    # What is left of Shape is the embeddings' (position ids), not one chain per layer.
    assert Counter(n.op_type for n in graph.node)["Shape"] <= 3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, seq in ((1, 5), (3, 17)):
        ids = torch.randint(5, 1100, (batch, seq))
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[-1, seq // 2:] = 0
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        with torch.no_grad():
            expected = model(**{n: feeds[n] for n in names}).logits.numpy()
        got = session.run(None, {n: feeds[n].numpy() for n in names})[0]
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_an_incomplete_inference_changes_nothing_and_writes_nothing(tmp_path, monkeypatch):
    """A graph whose shapes inference cannot finish (an op from another domain feeds the Reshape): the
    Reshape stays dynamic and no debug copy lands in the working directory (the library's own entry point
    writes one)."""
    model = _dynamic_reshape_graph([2, 3], 2)
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    model.graph.node.insert(0, helper.make_node("Mystery", ["x"], ["x2"], domain="com.example"))
    reshape.input[0] = "x2"
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    monkeypatch.chdir(tmp_path)
    assert make_reshapes_static(model) == 0
    assert Counter(n.op_type for n in model.graph.node)["Shape"] == 1
    assert list(tmp_path.iterdir()) == []

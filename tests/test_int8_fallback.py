"""INT8 recipes: the block-wise 8-bit fallback and export's ladder (dynamic first, block-wise when it misses).

The MRPC MiniLM run is why the ladder exists (export/quantize.py): dynamic INT8 missed the 0.98 gate on 7 of
12 sub-models there. Here the fallback is forced by a dynamic recipe that writes a broken file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_export import SUBSET, _tiny_checkpoint

from device_bench import app_runtime
from export import all as export_all
from export import quantize
from export.pipeline import INT8_RECIPES
from export.quantize import BLOCKWISE_BLOCK, nbits_count_correction, quantize_blockwise_int8


def _graph(path: Path, k: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ids -> Gather(emb) -> MatMul(w): the two ops INT8 quantizes, with a K of the caller's choice."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((50, k)).astype(np.float32)
    w = (rng.standard_normal((k, n)) * np.linspace(0.05, 2.0, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["emb", "ids"], ["x"]), helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", n])],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return emb, w


def _run(path: Path, ids: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]


@pytest.mark.parametrize("k", [2 * BLOCKWISE_BLOCK, 32])  # whole blocks; a K shorter than one block (padded)
def test_blockwise_int8_stores_8bit_blocks_and_counts_parameters(tmp_path, k):
    n = 24
    emb, w = _graph(tmp_path / "plain.onnx", k, n)
    details = quantize_blockwise_int8(tmp_path / "plain.onnx", tmp_path, tmp_path / "q.onnx")
    assert details["method"] == "blockwise"
    model = onnx.load(str(tmp_path / "q.onnx"))
    node = next(nd for nd in model.graph.node if nd.op_type == "MatMulNBits")
    attrs = {a.name: a.i for a in node.attribute}
    assert (attrs["bits"], attrs["block_size"], attrs["accuracy_level"], attrs["K"], attrs["N"]) == \
        (8, BLOCKWISE_BLOCK, 4, k, n)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert inits[node.input[1]].dtype == np.uint8
    assert inits[node.input[2]].size == n * -(-k // BLOCKWISE_BLOCK)  # one scale per block of each column
    gather = next(nd for nd in model.graph.node if nd.op_type == "Gather")
    assert inits[gather.input[0]].dtype in (np.int8, np.uint8)  # the table is quantized as the dynamic recipe does
    # The weights check counts parameters: K x N for the MatMul, whatever the padding and the scales.
    from export.verify import onnx_weight_count

    fp32_count = emb.size + w.size
    counted = onnx_weight_count(tmp_path / "q.onnx") + nbits_count_correction(tmp_path / "q.onnx")
    assert abs(counted - fp32_count) <= 1  # the table's scalar scale and zero point are not counted
    ids = np.arange(50, dtype=np.int64).reshape(5, 10)
    ref = emb[ids] @ w
    out = _run(tmp_path / "q.onnx", ids)
    # 8-bit weights and per-block 8-bit activations: each output within a few percent of its column's scale
    assert np.abs(out - ref).max() <= 0.03 * np.abs(ref).max()
    if app_runtime.available():  # the app's ONNX Runtime reads the contrib op at these settings
        assert app_runtime.load_error([tmp_path / "q.onnx"]) is None


def test_blockwise_without_matmuls_is_the_dynamic_table(tmp_path):
    """The nbits correction is zero on a graph without MatMulNBits (the dynamic recipe's files)."""
    _graph(tmp_path / "plain.onnx", 64, 8)
    quantize.quantize_dynamic_int8(tmp_path / "plain.onnx", tmp_path, tmp_path / "d.onnx")
    assert nbits_count_correction(tmp_path / "d.onnx") == 0


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def _broken_dynamic(real, broken_for: str):
    """The dynamic recipe, with the logits negated for one sub-model: every argmax flips."""

    def quantize_dynamic_int8(plain, scratch, final, extra_options=None):
        details = real(plain, scratch, final, extra_options)
        if Path(final).parent.name == broken_for:
            model = onnx.load(str(final))
            logits = model.graph.output[0].name
            producer = next(nd for nd in model.graph.node if logits in nd.output)
            producer.output[list(producer.output).index(logits)] = "logits_before_neg"
            model.graph.node.append(helper.make_node("Neg", ["logits_before_neg"], [logits]))
            onnx.save(model, str(final))
        return details

    return quantize_dynamic_int8


def test_export_falls_back_to_blockwise_when_dynamic_misses_the_gate(ckpt, tmp_path, monkeypatch):
    assert INT8_RECIPES[0] == "dynamic"  # the fast recipe first: the fallback only where it fails
    monkeypatch.setattr(quantize, "quantize_dynamic_int8", _broken_dynamic(quantize.quantize_dynamic_int8, "w1_d0.5"))
    out = tmp_path / "out"
    code = export_all.main(["--ckpt", str(ckpt), "--out", str(out), *SUBSET, "--formats", "onnx-int8,ort-int8",
                            "--jobs", "1", "--no-bench", "--no-progress"])
    assert code == 0
    arts = {a["id"]: a for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    fell = arts["w1_d0.5/onnx-int8"]
    assert fell["status"] == "passed" and fell["parity"]["passed"], fell
    assert fell["details"]["method"] == "blockwise"
    assert [r["method"] for r in fell["details"]["rejected"]] == ["dynamic"]
    assert fell["details"]["rejected"][0]["parity"]["argmax_agreement"] < 0.5  # the broken file, measured
    assert fell["weights"]["passed"], fell["weights"]
    assert any(nd.op_type == "MatMulNBits" for nd in onnx.load(str(out / fell["path"])).graph.node)
    # derived from it, the .ort passes its own gate and weights check
    assert arts["w1_d0.5/ort-int8"]["status"] == "passed", arts["w1_d0.5/ort-int8"]
    kept = arts["w0.25_d0.5/onnx-int8"]  # the sub-model whose dynamic file passed keeps it
    assert kept["status"] == "passed" and kept["details"]["method"] == "dynamic"
    assert "rejected" not in kept["details"]

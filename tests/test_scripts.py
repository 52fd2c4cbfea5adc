"""The README's main job (the core demo) and the forward benchmark run end to end on the packaged MiniLM."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.mark.minilm
def test_demo_writes_twelve_reloadable_submodels(tmp_path, capsys):
    from dynabert.demo import main

    assert main(["--out", str(tmp_path)]) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 12 and "w0.25_d0.5" in folders
    assert (tmp_path / "w0.25_d0.5" / "model.safetensors").is_file()
    assert "worst slice-vs-sub-network difference" in capsys.readouterr().out


def test_demo_reports_a_bad_backbone_in_one_line(tmp_path, capsys):
    from dynabert.demo import main

    assert main(["--backbone", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.minilm
def test_forward_benchmark_writes_ratios(tmp_path):
    import subnet_forward

    out = tmp_path / "bench.json"
    subnet_forward.main(["--batch", "1", "--seq-len", "16", "--rounds", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 12 and rows[0]["time_ratio"] == 1.0 and rows[0]["flops_ratio"] == 1.0
    assert rows[-1]["flops_ratio"] < 0.2


def _write_stage_files(export: Path, task: str, results: dict, artifacts: list[dict]) -> None:
    """results.json and manifest.json around the fields a publish step reads, complete enough for their typed
    readers (dynabert.files): the scripts read them through those, as every stage does."""
    import re

    from dynabert.files.results import RESULTS_SCHEMA
    from export.formats import FORMATS

    def mults(subnet: str) -> dict:
        w, d = re.fullmatch(r"w([0-9.]+)_d([0-9.]+)", subnet).groups()
        return {"width_mult": float(w), "depth_mult": float(d)}

    def complete(art: dict) -> dict:
        fmt = FORMATS.get(art["format"])
        return {"runtime": fmt.runtime if fmt else "onnxruntime", "precision": fmt.precision if fmt else "fp32",
                "path": f"{art['subnet']}/{fmt.filename if fmt else 'model.onnx'}", **mults(art["subnet"]), **art}

    (export / "tokenizer").mkdir(parents=True, exist_ok=True)
    manifest = {"schema_version": 1, "task": task, "tokenizer": {"dir": "tokenizer"},
                "subnets": [{"name": n, **mults(n)} for n in dict.fromkeys(a["subnet"] for a in artifacts)],
                "artifacts": [complete(a) for a in artifacts]}
    (export / "manifest.json").write_text(json.dumps(manifest))
    ids = {a["id"]: complete(a) for a in artifacts}
    rows = [{"artifact": f"{r['subnet']}/{r['format']}", **r} for r in results["rows"]]
    results_arts = [{**{k: v for k, v in ids.get(a["id"], complete({**a, "subnet": a["id"].split("/")[0],
                                                                     "format": a["id"].split("/")[1]})).items()
                        if k in ("format", "runtime", "precision", "width_mult", "depth_mult")}, **a}
                    for a in results["artifacts"]]
    (export / "bench" / "results.json").write_text(json.dumps({
        **results, "schema": RESULTS_SCHEMA, "manifest": str(export / "manifest.json"), "rows": rows,
        "artifacts": results_arts}))


def _fake_sst2_run(root: Path, dev: dict[str, float], int8_delta: float) -> tuple[Path, Path]:
    """The files benchmarks/sst2_minilm.py publishes from, with chosen numbers (no training)."""
    from dataclasses import asdict

    import yaml

    from dynabert.checkpoint import FORMAT, FORMAT_VERSION, META_FILE, CheckpointMeta

    run, ablations = root / "run", root / "ablations"
    names = list(dev)

    def ckpt(path: Path, metrics: dict[str, float], rewired: bool = True) -> None:
        path.mkdir(parents=True)
        meta = CheckpointMeta(stage="width", task="sst2", label_names=["negative", "positive"], rewired=rewired,
                              extra={"metrics": {name: {"accuracy": value} for name, value in metrics.items()}})
        (path / META_FILE).write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION, **asdict(meta)}))

    stage = {"steps": 10, "best_step": 10, "train_seconds": 12.0, "best_score": 0.9}
    (run / "export" / "bench").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({
        "checkpoint": "runs/x/finetune/checkpoint", "dev": dev, "main_metric": "accuracy",
        "stages": {s: {**stage, "stage": s} for s in ("teacher", "width", "depth", "finetune")}}))
    (run / "config.yaml").write_text(yaml.safe_dump({
        "seed": 42, "batch_size": 32, "threads": 1, "data": {"max_length": 64},
        "stages": {s: {"max_steps": n, "enabled": True} for s, n in (("width", 7), ("depth", 10), ("finetune", 3))}}))
    ckpt(run / "width" / "checkpoint", {n: 0.88 for n in names if n.endswith("_d1")})
    ckpt(ablations / "alone_w0.25_d1" / "width" / "checkpoint", {"w0.25_d1": 0.85})
    (ablations / "alone_w0.25_d1" / "width" / "summary.json").write_text(json.dumps({"steps": 20}))
    ckpt(ablations / "no_rewire" / "width" / "checkpoint", {n: 0.80 for n in names if n.endswith("_d1")}, False)
    (ablations / "no_rewire" / "width" / "summary.json").write_text(json.dumps({"steps": 7}))
    artifacts, rows, manifest_arts = [], [], []
    for i, n in enumerate(names):
        for fmt, runtime, delta in (("hf", "pytorch", 0.0), ("onnx", "onnxruntime-cpu", 0.0),
                                    ("onnx-int8", "onnxruntime-cpu", int8_delta)):
            artifacts.append({"id": f"{n}/{fmt}", "metric": dev[n] + delta})
            manifest_arts.append({"subnet": n, "format": fmt, "bytes": (i + 1) * 1_000_000, "id": f"{n}/{fmt}",
                                  "status": "passed"})
            rows.append({"subnet": n, "format": fmt, "runtime": runtime, "threads": 1, "seq_len": 128,
                         "p50_ms": 10.0 / (i + 1), "vs_full": 1.0 / (i + 1), "vs_full_onnx_fp32": 1.0 / (i + 1),
                         "unstable": False, "status": "ok", "reason": None})
    _write_stage_files(run / "export", "sst2", {
        "artifacts": artifacts, "rows": rows, "settings": {"seq_lens": [128], "spread_limit": 1.5},
        "environment": {"cpu": "test CPU", "cores": 2, "loadavg_at_start": [0.1, 0.1, 0.1]}}, manifest_arts)
    return run, ablations


def test_sst2_results_document_reports_the_grid_paper_and_targets_as_measured(tmp_path):
    import sst2_minilm

    from dynabert.arch import subnet_name

    names = [subnet_name(w, d) for w in (1.0, 0.75, 0.5, 0.25) for d in (1.0, 0.75, 0.5)]
    dev = {n: 0.90 - 0.002 * i for i, n in enumerate(names)}  # teacher 0.9: full model equal, smallest -2.2
    run, ablations = _fake_sst2_run(tmp_path, dev, int8_delta=-0.006)
    doc = sst2_minilm.publish(None, run, ablations, tmp_path / "docs")
    text = doc.read_text()
    results = json.loads((tmp_path / "docs" / "sst2-minilm.json").read_text())
    targets = results["targets"]
    assert targets["full_ge_teacher"]["met"] and targets["smallest_ge_teacher_minus_3"]["met"]
    assert targets["mean_ge_teacher_minus_1.5"]["met"]  # mean drop 1.1 points
    # INT8 0.6 points below PyTorch everywhere: the 0.5-point target is reported missed, not rounded away
    assert not targets["int8_within_0.5_of_pytorch"]["met"]
    assert "| every INT8 file within 0.5 of its PyTorch sub-network | worst -0.60" in text
    assert "| 0.25 | 88.2 | 88.0 | 87.8 |" in text  # the width x depth grid in the paper's layout
    assert "| 1.0 | +0.0 / +0.3 | -0.2 / +0.4 | -0.4 / -0.2 |" in text
    assert "| 0.25 | 92.8 | 92.0 | 92.0 |" in text  # the paper's own grid beside ours  # drops: ours / the paper's
    assert "trained alone (alone_w0.25_d1, 20 steps) | 85.0 | — |" in text
    assert "| without | 80.0 | 80.0 | 80.0 | 80.0 |" in text
    assert "1.00 ms (10.0×)" in text  # the smallest's latency and its speed-up over the full model


# ---------------------------------------------------------------------------------------------- glue_minilm.py

DOCS = REPO / "docs" / "results"


def _write_meta(path: Path, task: str, metrics: dict[str, dict[str, float]], stage: str = "width",
                label_names: list[str] | None = None, rewired: bool = True) -> None:
    """A checkpoint folder holding only dynabert.json with the given per-sub-network dev metrics."""
    from dataclasses import asdict

    from dynabert.checkpoint import FORMAT, FORMAT_VERSION, META_FILE, CheckpointMeta

    path.mkdir(parents=True)
    meta = CheckpointMeta(stage=stage, task=task, label_names=label_names, rewired=rewired,
                          extra={"metrics": metrics})
    (path / META_FILE).write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION, **asdict(meta)}))


def _run_from_published_sst2(root: Path) -> tuple[Path, Path]:
    """The run files docs/results/sst2-minilm.json was published from, rebuilt from that JSON (no run is on disk).

    Each file gets exactly what collect() reads from it; nothing is copied from the document itself.
    """
    import yaml
    from glue_minilm import FORMAT_GRIDS, LATENCY_VIEWS

    pub = json.loads((DOCS / "sst2-minilm.json").read_text())
    run, ablations = root / "run", root / "ablations"
    ab = pub["ablations"]
    (run / "export" / "bench").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({
        "checkpoint": "runs/sst2-minilm/finetune/checkpoint", "task": "sst2", "main_metric": "accuracy",
        "dev": ab["dynabert_final"], "stages": pub["stages"]}))
    (run / "config.yaml").write_text(yaml.safe_dump(pub["config"], sort_keys=False))
    acc = {name: {"accuracy": value} for name, value in ab["dynabert_width_stage"].items()}
    _write_meta(run / "width" / "checkpoint", "sst2", acc, label_names=["negative", "positive"])
    for label in ("alone_w0.25_d1", "alone_w0.25_d0.5", "no_rewire"):
        _write_meta(ablations / label / "width" / "checkpoint", "sst2",
                    {n: {"accuracy": v} for n, v in ab[label]["metrics"].items()},
                    label_names=["negative", "positive"], rewired=label != "no_rewire")
        (ablations / label / "width" / "summary.json").write_text(json.dumps(ab[label]["summary"]))
    grid = pub["dev_accuracy"]
    artifacts = [{"id": f"{s}/{fmt}", "subnet": s, "format": fmt, "metric": v}
                 for fmt in FORMAT_GRIDS for s, v in grid[fmt].items() if v is not None]
    rows = []
    for label, fmt, runtime, threads in LATENCY_VIEWS:
        for seq in pub["bench"]["settings"]["seq_lens"]:
            for s, row in pub["latency"].get(f"{label} @ seq {seq}", {}).items():
                rows.append({"subnet": s, "format": fmt, "runtime": runtime, "threads": threads, "seq_len": seq, **row})
    bench = {"artifacts": artifacts, "rows": rows, **pub["bench"]}
    # 11 files per sub-network: the sized formats, Core ML fp32 and INT8 unverified (no macOS), the rest passed.
    v = pub["export_verification"]
    worst = v["largest_int8_metric_drop"]
    manifest = []
    for s in grid["hf"]:
        for fmt in ("hf", "onnx", "onnx-int8", "ort", "ort-int8", "coreml", "coreml-int8", "pte", "pte-int8",
                    "litert", "litert-int8"):
            art = {"id": f"{s}/{fmt}", "subnet": s, "format": fmt,
                   "status": "unverified" if fmt.startswith("coreml") else "passed",
                   "bytes": pub["sizes_bytes"].get(fmt, {}).get(s, 1)}
            if fmt in ("onnx-int8", "ort-int8", "pte-int8", "litert-int8"):
                art["parity"] = {"gate": "approx", "argmax_agreement": v["lowest_int8_argmax_agreement"],
                                 "n": v["int8_inputs"]}
                if art["id"] == worst["id"]:  # the one drop the document names
                    art["parity"].update(metric_drop=worst["drop"], max_metric_drop=worst["max"])
            manifest.append(art)
    assert len(manifest) == v["artifacts"]
    assert {k: sum(a["status"] == k for a in manifest) for k in v["status"]} == v["status"]
    _write_stage_files(run / "export", "sst2", bench, manifest)
    (run / "export" / "bench" / "pareto_latency.png").write_bytes((DOCS / "sst2-minilm-pareto.png").read_bytes())
    return run, ablations


def test_the_published_sst2_documents_regenerate_byte_for_byte_from_their_run_files(tmp_path):
    """sst2_minilm.py (now glue_minilm.py --task sst2) must still write the published SST-2 documents as they are."""
    import sst2_minilm

    run, ablations = _run_from_published_sst2(tmp_path)
    out = tmp_path / "docs"
    sst2_minilm.publish(DOCS / "sst2-minilm.notes.md", run, ablations, out)
    for name in ("sst2-minilm.md", "sst2-minilm.json", "sst2-minilm-pareto.png"):
        assert (out / name).read_bytes() == (DOCS / name).read_bytes(), name


def test_sst2_minilm_publish_only_runs_through_glue_minilm(tmp_path, monkeypatch, capsys):
    """The wrapper is the same command-line script: --publish-only without a run is one line and exit 2."""
    import glue_minilm
    import sst2_minilm

    monkeypatch.setattr(glue_minilm, "REPO", tmp_path)
    monkeypatch.setattr(glue_minilm, "DOCS", tmp_path / "docs")
    assert sst2_minilm.main(["--publish-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sst2_minilm: missing ") and "sst2-minilm" in err and err.count("\n") == 1
    assert not (tmp_path / "docs").exists()  # nothing half-written


def test_glue_minilm_refuses_a_task_without_a_published_run(capsys):
    import glue_minilm

    with pytest.raises(SystemExit) as exc:
        glue_minilm.main(["--task", "qqp", "--publish-only"])
    assert exc.value.code == 2
    assert "no published run for task 'qqp'; tasks: sst2, mrpc, stsb, cola" in capsys.readouterr().err


def _fake_glue_run(root: Path, task: str, dev: dict[str, dict[str, float]], teacher: dict[str, float],
                   int8_delta: float) -> Path:
    """The files glue_minilm.py publishes from for ``task``, with chosen per-metric scores (no training).

    ``dev[metric][sub-network]``: the training's dev evaluation; every exported file scores the same, INT8
    files ``int8_delta`` lower on every metric.
    """
    import yaml

    from dynabert.data import get_task

    spec = get_task(task)
    main = spec.main_metric
    names = list(dev[main])
    labels = None if spec.is_regression else list(spec.label_names)
    run = root / "run"
    (run / "export" / "bench").mkdir(parents=True)
    stage = {"steps": 10, "best_step": 10, "train_seconds": 12.0, "best_score": 5.0}
    stages = {s: {**stage, "stage": s} for s in ("teacher", "width", "depth", "finetune")}
    stages["teacher"]["best_score"] = teacher[main]
    (run / "summary.json").write_text(json.dumps({
        "checkpoint": "runs/x/finetune/checkpoint", "dev": dev[main], "main_metric": main, "stages": stages}))
    (run / "config.yaml").write_text(yaml.safe_dump({
        "seed": 42, "batch_size": 32, "threads": 1, "data": {"max_length": 128},
        "stages": {s: {"max_steps": 5, "enabled": True} for s in ("width", "depth", "finetune")}}))
    per_subnet = {n: {m: dev[m][n] for m in dev} for n in names}
    _write_meta(run / "finetune" / "checkpoint", spec.name, per_subnet, "finetune", labels)
    _write_meta(run / "teacher" / "checkpoint", spec.name, {"w1_d1": teacher}, "teacher", labels, rewired=False)
    artifacts, manifest, rows = [], [], []
    for i, n in enumerate(names):
        for fmt, runtime, delta in (("hf", "pytorch", 0.0), ("onnx", "onnxruntime-cpu", 0.0),
                                    ("onnx-int8", "onnxruntime-cpu", int8_delta)):
            scores = {m: dev[m][n] + delta for m in dev}
            artifacts.append({"id": f"{n}/{fmt}", "metric": scores[main],
                              "accuracy": {"status": "ok", "metric": scores[main], "metrics": scores}})
            parity = {"gate": "approx" if "int8" in fmt else "exact", "n": 400,
                      "argmax_agreement": None if spec.is_regression else 0.99,
                      "pearson_with_reference": 0.9987 if spec.is_regression else None}
            manifest.append({"id": f"{n}/{fmt}", "subnet": n, "format": fmt, "bytes": (i + 1) * 1_000_000,
                             "status": "passed", "parity": parity})
            rows.append({"subnet": n, "format": fmt, "runtime": runtime, "threads": 1, "seq_len": 128,
                         "p50_ms": 10.0 / (i + 1), "vs_full": 1.0 / (i + 1), "vs_full_onnx_fp32": 1.0 / (i + 1),
                         "unstable": False, "status": "ok", "reason": None})
    _write_stage_files(run / "export", task, {
        "artifacts": artifacts, "rows": rows, "settings": {"seq_lens": [128], "spread_limit": 1.5},
        "environment": {"cpu": "test CPU", "cores": 2, "loadavg_at_start": [0.1, 0.1, 0.1]}}, manifest)
    return run


def _names() -> list[str]:
    from dynabert.arch import subnet_name

    return [subnet_name(w, d) for w in (1.0, 0.75, 0.5, 0.25) for d in (1.0, 0.75, 0.5)]


def test_mrpc_document_compares_the_papers_accuracy_and_gates_int8_on_f1_within_one_point(tmp_path):
    import glue_minilm

    names = _names()
    # F1 (main) 0.90 - 0.002 i; accuracy 0.85 - 0.01 i: the paper comparison must use accuracy.
    dev = {"f1": {n: 0.90 - 0.002 * i for i, n in enumerate(names)},
           "accuracy": {n: 0.85 - 0.01 * i for i, n in enumerate(names)}}
    run = _fake_glue_run(tmp_path, "mrpc", dev, {"f1": 0.89, "accuracy": 0.86}, int8_delta=-0.008)
    doc = glue_minilm.publish(glue_minilm.RUNS["mrpc"], None, run, tmp_path / "none", tmp_path / "docs")
    text = doc.read_text()
    results = json.loads((tmp_path / "docs" / "mrpc-minilm.json").read_text())
    assert doc.name == "mrpc-minilm.md" and "ablations" not in results
    assert "Dev F1 and accuracy ×100 (F1 is the main metric" in text and "MRPC dev (408 sentence pairs)" in text
    assert "## Teacher: F1 89.0, accuracy 86.0" in text
    assert "The paper reports accuracy for MRPC, so ours here is our accuracy too" in text
    assert "| 0.25 | 83.8 | 83.8 | 81.4 |" in text  # the paper's grid
    # drops in accuracy from our accuracy teacher (86.0): w1_d1 85.0 -> -1.0 ; the paper 86.3 - 87.7 = -1.4
    assert "| 1.0 | -1.0 / -1.4 | -2.0 / -1.9 | -3.0 / -2.7 |" in text
    # mean of our 12 accuracies: 85 - 5.5 = 79.5 (-6.5); the paper's mean 84.5 (-3.2)
    assert "Mean of the 12 (accuracy): ours 79.5 (-6.5 from our teacher 86.0), the paper 84.5 (-3.2 from 87.7)." in text
    assert results["paper"]["metric"] == "accuracy" and results["dev_accuracy"]["onnx-int8"]["w1_d1"] == 0.842
    # INT8 0.8 points of F1 below PyTorch: within the 1.0-point target of these tasks (SST-2's was 0.5)
    assert results["targets"]["int8_within_1.0_of_pytorch"]["met"]
    assert "| every INT8 file within 1.0 of its PyTorch sub-network | worst -0.80" in text
    assert "lowest INT8 argmax agreement with PyTorch is 0.990 on 400 dev inputs" in text


def test_stsb_and_cola_documents_use_their_own_metrics(tmp_path):
    import glue_minilm

    names = _names()
    stsb = {"pearson": {n: 0.87 - 0.001 * i for i, n in enumerate(names)},
            "spearman": {n: 0.86 - 0.002 * i for i, n in enumerate(names)}}
    run = _fake_glue_run(tmp_path / "s", "stsb", stsb, {"pearson": 0.88, "spearman": 0.87}, int8_delta=-0.012)
    text = glue_minilm.publish(glue_minilm.RUNS["stsb"], None, run, tmp_path / "none", tmp_path / "docs").read_text()
    assert "Dev Pearson and Spearman ×100" in text and "STS-B dev (1,500 sentence pairs)" in text
    assert "dev Spearman:" in text and "| 1.0 | -1.0 / +0.3 |" in text  # spearman 86.0 - 87.0 ; 90.1 - 89.8
    assert "the lowest Pearson correlation of an INT8 file's scores with PyTorch's is 0.9987 on 400" in text
    assert "| every INT8 file within 1.0 of its PyTorch sub-network | worst -1.20 (w1_d1/onnx-int8) | no |" in text
    assert "![Pareto: Pearson vs latency](stsb-minilm-pareto.png)" in text

    # An INT8 file that failed export verification is not in device_bench's results: not "within" anything.
    results_file = run / "export" / "bench" / "results.json"
    bench = json.loads(results_file.read_text())
    bench["artifacts"] = [a for a in bench["artifacts"] if a["id"] != "w0.5_d0.5/onnx-int8"]
    results_file.write_text(json.dumps(bench))
    small = glue_minilm.collect(glue_minilm.RUNS["stsb"], run, tmp_path / "none")["targets"]
    assert small["int8_within_1.0_of_pytorch"]["unmeasured"] == ["w0.5_d0.5/onnx-int8"]

    cola = {"mcc": {n: 0.45 - 0.01 * i for i, n in enumerate(names)}}
    run = _fake_glue_run(tmp_path / "c", "cola", cola, {"mcc": 0.47}, int8_delta=0.0)
    text = glue_minilm.publish(glue_minilm.RUNS["cola"], None, run, tmp_path / "none", tmp_path / "docs").read_text()
    assert "Dev Matthews correlation ×100, CoLA dev (1,043 sentences)." in text and "## Teacher: 47.0" in text
    assert "The paper reports" not in text  # the paper's metric is our main metric
    assert "| every INT8 file within 1.0 of its PyTorch sub-network | worst +0.00 (w1_d1/onnx-int8) | yes |" in text
    results_file = run / "export" / "bench" / "results.json"
    bench = json.loads(results_file.read_text())
    bench["artifacts"] = [a for a in bench["artifacts"] if a["id"] != "w0.25_d0.5/onnx-int8"]
    results_file.write_text(json.dumps(bench))
    text = glue_minilm.publish(glue_minilm.RUNS["cola"], None, run, tmp_path / "none", tmp_path / "docs").read_text()
    assert ("| every INT8 file within 1.0 of its PyTorch sub-network | worst +0.00 (w1_d1/onnx-int8); 1 file not "
            "measured (failed export verification or no score): w0.25_d0.5/onnx-int8 | no |") in text
    assert "| 0.25 | 36.0 | 35.0 | 34.0 |" in text and "| 0.25 | -11.0 / -7.2 | -12.0 / -6.5 | -13.0 / -14.4 |" in text
    assert "Core ML INT8-weights: not exported." in text  # the fake export made no Core ML files


def test_glue_export_step_reruns_while_the_manifest_has_failed_artifacts(tmp_path, monkeypatch):
    """device_bench measures what passed even when some files failed their gate, so its results.json does not
    make the export step complete: a re-run of the script must run export.all again (the MRPC run stopped so)."""
    import glue_minilm

    names = _names()
    spec = glue_minilm.RUNS["mrpc"]
    run = _fake_glue_run(tmp_path / "m", "mrpc", {"f1": {n: 0.85 for n in names}}, {"f1": 0.86}, int8_delta=0.0)
    calls = []
    monkeypatch.setattr(glue_minilm, "run_dir", lambda _spec: run)
    monkeypatch.setattr(glue_minilm, "sh", calls.append)
    glue_minilm.export(spec)
    assert calls == []  # results and nothing failed: complete
    manifest_file = run / "export" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["artifacts"][2]["status"] = "failed"
    manifest_file.write_text(json.dumps(manifest))
    assert glue_minilm._failed_artifacts(run / "export") == [manifest["artifacts"][2]["id"]]
    glue_minilm.export(spec)
    assert len(calls) == 1 and calls[0][1:3] == ["-m", "export.all"]


def test_vocab_sizes_compares_each_file_with_the_same_format_without_pruning():
    import vocab_sizes

    full = {"a/onnx-int8": {"bytes": 100, "metric": 0.90}, "a/onnx-int4emb": {"bytes": 80, "metric": 0.88}}
    task = {"a/onnx-int8": {"bytes": 60, "metric": 0.89}, "a/onnx-int4emb": {"bytes": 40, "metric": 0.875},
            "b/onnx-int8": {"bytes": 50, "metric": 0.8}}  # no full-vocabulary twin (failed there): left out
    rows = {r["id"]: r for r in vocab_sizes.compare(full, task)}
    assert set(rows) == {"a/onnx-int8", "a/onnx-int4emb"}
    assert rows["a/onnx-int4emb"]["delta"] == pytest.approx(-0.005)  # against the full-vocabulary 4-bit file
    assert rows["a/onnx-int4emb"]["delta_vs_full_int8"] == pytest.approx(-0.025)  # and the INT8 one it replaces
    assert rows["a/onnx-int8"]["delta"] == pytest.approx(-0.01) and rows["a/onnx-int8"]["delta_vs_full_int8"] is None
    full["a/onnx-int4ffn"], task["a/onnx-int4ffn"] = {"bytes": 70, "metric": 0.9}, {"bytes": 30, "metric": 0.885}
    rows = {r["id"]: r for r in vocab_sizes.compare(full, task)}
    assert rows["a/onnx-int4ffn"]["delta"] == pytest.approx(-0.015)
    assert rows["a/onnx-int4ffn"]["delta_vs_full_int8"] == pytest.approx(-0.015)


def test_vocab_sizes_common_words_file_is_one_word_a_line(tmp_path):
    import vocab_sizes

    path = vocab_sizes.common_words_file(3, tmp_path, words=["the", "of", "and", "to"])
    assert path == tmp_path / "common-words-3.txt" and path.read_text() == "the\nof\nand\n"
    with pytest.raises(SystemExit, match="--common-words must be >= 1"):
        vocab_sizes.common_words_file(0, tmp_path, words=["the"])


def test_vocab_sizes_document_states_the_bounds_from_the_measured_files(tmp_path):
    import vocab_sizes

    def files(scale: float, metric: float) -> dict:
        out = {}
        for subnet, base in (("w1_d1", 23e6), ("w0.25_d0.5", 13.4e6)):
            for fmt, factor, drop in (("onnx-int8", 1.0, 0.0), ("onnx-int4emb", 0.8, 0.004)):
                out[f"{subnet}/{fmt}"] = {
                    "bytes": int(base * factor * scale), "metric": metric - drop, "metric_name": "accuracy",
                    "status": "passed", "details_method": "dynamic",
                    "split": {"bytes_embeddings": int(base * scale) - 10_500_000, "bytes_encoder": 10_000_000,
                              "bytes_head": 400_000, "bytes_other": 100_000}}
        return out

    emb = {"vocab_size": 13486, "full_vocab_size": 30522, "full_position_rows": 512, "position_rows": 128,
           "sources": [{"what": "sst2 train", "ids": 11570}],
           "dev_tokenization": {"changed_tokens_share": 0.02, "tokens": 100, "changed_texts_share": 0.3, "texts": 10}}
    report = {"checkpoint": "ckpt", "max_length": 128,
              "runs": {"full": {"files": files(1.0, 0.90), "embeddings": emb},
                       "task": {"files": files(0.4, 0.897), "embeddings": emb}}}
    text = vocab_sizes.render(report)
    # smallest: the 4-bit task file (13.4e6 * 0.8 * 0.4 = 4.29 MB) is 0.3 pts below the same file unpruned
    assert ("| w0.25_d0.5's smallest file within 0.5 pts ≤ 5.0 MB | w0.25_d0.5/onnx-int4emb | 4.29 | -0.30 | yes |"
            in text)
    assert "| full model's INT8 file ≤ 12.0 MB, within 0.5 pts | w1_d1/onnx-int8 | 9.20 | -0.30 | yes |" in text
    assert "feed-forward weights 4-bit" not in text  # no int4ffn file measured: no such row
    for run, scale, metric in (("full", 0.6, 0.90), ("task", 0.45, 0.8955)):
        report["runs"][run]["files"]["w1_d1/onnx-int4ffn"] = {"bytes": int(23e6 * scale), "metric": metric,
                                                               "status": "passed", "split": None}
    text = vocab_sizes.render(report)
    assert ("| full model's file ≤ 12.0 MB, within 0.5 pts (feed-forward weights 4-bit, the rest INT8) | "
            "w1_d1/onnx-int4ffn | 10.35 | -0.45 | yes |") in text
    report["runs"]["task"]["files"]["w1_d1/onnx-int4ffn"]["metric"] = 0.894  # 0.6 pts below: over the bound
    assert "| w1_d1/onnx-int4ffn | 10.35 | -0.60 | no |" in vocab_sizes.render(report)
    report["runs"]["task"]["files"]["w0.25_d0.5/onnx-int4emb"]["metric"] -= 0.01  # now 1.3 pts below
    text = vocab_sizes.render(report)
    assert "| w0.25_d0.5/onnx-int8 | 5.36 | -0.30 | no |" in text  # the next smallest within the bound, too big
    assert "Dev accuracy ×100" in text and "13,486 rows" in text
    report["runs"]["full"]["failed"] = ["w0.5_d0.5/onnx-int4ffn"]
    del report["runs"]["task"]["files"]["w0.25_d0.5/onnx-int8"]  # in one export only, and not for a failed gate
    text = vocab_sizes.render(report)
    assert "Failed their export gate (not measured, never installed): full: w0.5_d0.5/onnx-int4ffn" in text
    assert "Not compared (in one of the two exports only): w0.25_d0.5/onnx-int8" in text


def test_vocab_sizes_completes_an_older_report_from_the_exported_files(tmp_path):
    """A report written before the byte split existed gets it from the files, and the metric's name from the
    checkpoint's task."""
    from dataclasses import asdict

    import numpy as np
    import onnx
    import vocab_sizes
    from onnx import TensorProto, helper, numpy_helper

    from dynabert.checkpoint import FORMAT, FORMAT_VERSION, META_FILE, CheckpointMeta

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    meta = CheckpointMeta(stage="width", task="sst2", label_names=["negative", "positive"], rewired=True)

    (ckpt / META_FILE).write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION, **asdict(meta)}))
    report = {"runs": {}}
    for vocab in ("full", "task"):
        export = tmp_path / "out" / vocab / "w1_d1"
        export.mkdir(parents=True)
        rows = 30 if vocab == "full" else 10
        table = numpy_helper.from_array(np.zeros((rows, 4), np.float32), "bert.embeddings.word_embeddings.weight")
        graph = helper.make_graph([helper.make_node("Gather", [table.name, "ids"], ["logits"])], "g",
                                  [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 2])],
                                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2, 4])], [table])
        onnx_path = export / "model.onnx"
        onnx.save(helper.make_model(graph), str(onnx_path))
        (tmp_path / "out" / vocab / "bench").mkdir()
        _write_stage_files(tmp_path / "out" / vocab, "sst2", {"artifacts": [], "rows": []},
                           [{"id": "w1_d1/onnx", "subnet": "w1_d1", "format": "onnx", "bytes": 1,
                             "status": "passed"}])
        report["runs"][vocab] = {"files": {"w1_d1/onnx": {"bytes": 1, "metric": 0.9, "status": "passed"}}}
    vocab_sizes.complete(report, tmp_path / "out", ckpt)
    for vocab, rows in (("full", 30), ("task", 10)):
        entry = report["runs"][vocab]["files"]["w1_d1/onnx"]
        assert entry["metric_name"] == "accuracy"
        assert entry["split"]["vocab_size"] == rows and entry["split"]["bytes_embeddings"] == rows * 4 * 4


def test_int8_speed_reads_another_checkouts_rebuild_only_inside_its_folder(tmp_path):
    """``--before-work``: the files, session settings and graph names another checkout rebuilt are read back as
    they were written; a file name leading out of the folder, an unknown session setting or graph is refused."""
    import int8_speed

    from dynabert.fileio import PathEscapeError

    folder = tmp_path / "after" / "w1_d1"
    folder.mkdir(parents=True)
    (folder / "model.int8.onnx").write_bytes(b"x")
    record = folder / int8_speed.REBUILT
    settings = {"disabled_optimizers": ["SkipLayerNormFusion"]}
    record.write_text(json.dumps({"int8": ["model.int8.onnx", settings]}))
    path, read, graph = int8_speed.read_rebuilt(folder)["int8"]
    assert path == (folder / "model.int8.onnx").resolve()
    assert read["disabled_optimizers"] == ["SkipLayerNormFusion"]
    assert graph == ""  # an older checkout's record names no graph: not known, not guessed
    record.write_text(json.dumps({"int8": ["model.int8.onnx", settings, "fused"]}))
    assert int8_speed.read_rebuilt(folder)["int8"][2] == "fused"
    assert int8_speed.read_rebuilt(tmp_path) is None
    record.write_text(json.dumps({"int8": ["model.int8.onnx", settings, "../x"]}))
    with pytest.raises(ValueError, match="unknown graph"):
        int8_speed.read_rebuilt(folder)
    record.write_text(json.dumps({"int8": "model.int8.onnx"}))
    with pytest.raises(ValueError, match="expected"):
        int8_speed.read_rebuilt(folder)
    record.write_text(json.dumps({"int8": ["../../../etc/passwd", settings]}))
    with pytest.raises(PathEscapeError):
        int8_speed.read_rebuilt(folder)
    record.write_text(json.dumps({"int8": ["model.int8.onnx", {"graph_optimisation_level": 1}]}))
    with pytest.raises(ValueError, match="unknown session setting"):
        int8_speed.read_rebuilt(folder)


@pytest.mark.parametrize("option, value", [("--warmup", "-1"), ("--rounds", "0"), ("--runs", "two")])
def test_int8_speed_refuses_a_bad_count_in_one_line(option, value, capsys):
    import int8_speed

    with pytest.raises(SystemExit) as exc:
        int8_speed.main(["--export", "nowhere", option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in err and value in err


def test_int8_speed_times_only_after_the_warm_up_and_reports_the_lowest_int8_row(monkeypatch):
    """Each visit's warm-up runs are not timed (the first run is kept apart); the FLOPs-ideal share is the full
    INT8 row's time over the row's, divided by the FLOPs ratio, and the lowest is taken over .onnx and .ort."""
    import int8_speed
    from int8_speed import Row

    class Clocked:
        """A session whose n-th run takes ``ms[n]`` of the patched clocks."""

        def __init__(self, ms):
            self.ms, self.n = list(ms), 0

        def get_inputs(self):
            return []

        def run(self, *_):
            clock[0] += self.ms[min(self.n, len(self.ms) - 1)] / 1000.0
            self.n += 1

    clock = [0.0]
    monkeypatch.setattr(int8_speed.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(int8_speed.time, "thread_time", lambda: clock[0])
    # 3 session warm-up runs, then per round: 1 warm-up (slow, the "first") + 2 timed runs.
    plan = {("w1_d1", "fp32", "before", 400): [20] * 20,
            ("w1_d1", "int8", "after", 400): [9, 9, 9] + [12, 8, 8] * 3,
            ("w1_d1", "int8 .ort", "after", 400): [9, 9, 9] + [12, 8, 8] * 3,
            ("w0.25_d0.5", "int8", "after", 50): [9, 9, 9] + [5, 1.25, 1.25] * 3,
            ("w0.25_d0.5", "int8 .ort", "after", 50): [9, 9, 9] + [5, 1.6, 1.6] * 3}
    sessions = {f"{model} {kind}": Clocked(ms) for (model, kind, *_), ms in plan.items()}
    monkeypatch.setattr(int8_speed.S, "session", lambda path, settings, threads: sessions[path.name])
    monkeypatch.setattr(int8_speed, "feeds_for", lambda *a: {})
    rows = [Row(model, kind, variant, Path(f"{model} {kind}"), {}, flops)
            for model, kind, variant, flops in plan]
    int8_speed.time_rows(rows, 128, 100, rounds=3, runs=2, threads=1, warmup=1)
    by = {f"{r.model} {r.kind}": r for r in rows}
    assert by["w0.25_d0.5 int8"].times == pytest.approx([1.25] * 6)
    assert by["w0.25_d0.5 int8"].first == pytest.approx([5] * 3)
    records, summary = int8_speed.table(rows)
    pct = {f"{x['model']} {x['kind']}": x["pct_of_flops_ideal"] for x in records}
    assert pct["w0.25_d0.5 int8"] == 80.0  # (8 / 1.25) / 8
    assert pct["w0.25_d0.5 int8 .ort"] == round(100 * (8 / 1.6) / 8, 1)
    assert summary["after"]["min_int8_pct_of_flops_ideal"] == pct["w0.25_d0.5 int8 .ort"]
    assert summary["after"]["min_int8_row"] == "w0.25_d0.5 int8 .ort"
    assert sorted(x["first_p50_ms"] for x in records if x["kind"].startswith("int8")) == [5, 5, 12, 12]


def test_int8_speed_visits_each_rows_session_instances_in_turn_and_reports_each(monkeypatch):
    """With --instances 2 each row gets two separately created sessions; round r times instance r % 2, the p50
    is over both and each instance's own p50 is reported (they differ here: 2 vs 4 ms)."""
    import int8_speed
    from int8_speed import Row

    created = []

    class Clocked:
        def __init__(self, ms):
            self.ms = ms

        def get_inputs(self):
            return []

        def run(self, *_):
            clock[0] += self.ms / 1000.0

    def session(path, settings, threads):
        created.append(path.name)
        return Clocked({"a": [2, 4], "b": [10, 10]}[path.name][sum(n == path.name for n in created) - 1])

    clock = [0.0]
    monkeypatch.setattr(int8_speed.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(int8_speed.time, "thread_time", lambda: clock[0])
    monkeypatch.setattr(int8_speed.S, "session", session)
    monkeypatch.setattr(int8_speed, "feeds_for", lambda *a: {})
    rows = [Row("w1_d1", "int8", "after", Path("a"), {}, 100), Row("w1_d1", "fp32", "before", Path("b"), {}, 100)]
    int8_speed.time_rows(rows, 128, 100, rounds=4, runs=1, threads=1, warmup=1, instances=2)
    assert created == ["a", "b", "a", "b"]  # one set of sessions after the other
    a = rows[0]
    assert a.by_instance == [pytest.approx([2, 2]), pytest.approx([4, 4])]
    assert a.times == pytest.approx([2, 4, 2, 4]) and a.p50 == pytest.approx(3)
    record = next(x for x in int8_speed.table(rows)[0] if x["kind"] == "int8")
    assert record["instance_p50_ms"] == [2, 4] and record["p50_ms"] == 3


def test_glue_report_names_the_largest_metric_drop_where_the_export_gated_on_it():
    """Exports gated on the task metric report their worst file; older manifests (no metric_drop) report none."""
    from glue_minilm import _verification

    def art(name, agreement, drop=None):
        parity = {"gate": "approx", "n": 1043, "argmax_agreement": agreement}
        if drop is not None:
            parity.update({"metric_drop": drop, "max_metric_drop": 0.01})
        return {"id": name, "status": "passed", "parity": parity}

    gated = _verification({"artifacts": [art("a/onnx-int8", 0.99, 0.004), art("b/onnx-int8", 0.98, 0.009),
                                         art("c/pte-int8", 0.995, -0.002)]}, regression=False)
    assert gated["largest_int8_metric_drop"] == {"id": "b/onnx-int8", "drop": 0.009, "max": 0.01}
    assert gated["lowest_int8_argmax_agreement"] == 0.98 and gated["int8_inputs"] == 1043
    older = _verification({"artifacts": [art("a/onnx-int8", 0.99)]}, regression=False)
    assert "largest_int8_metric_drop" not in older


def test_int8_profile_sums_kernel_times_per_op_over_the_counted_runs_only():
    """Node events outside the last ``runs`` model runs (warm-up, session start) are left out; times are per run."""
    from int8_profile import excess, per_op

    def run(ts, dur):
        return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}

    def node(name, op, ts, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}

    events = [node("init", "LayerNormalization", 0, 500), run(10, 50), node("ln0", "LayerNormalization", 12, 40),
              run(100, 50), node("ln0", "LayerNormalization", 101, 20), node("ln1", "LayerNormalization", 110, 10),
              node("q", "MatMulIntegerToFloat", 120, 6), run(200, 50), node("ln0", "LayerNormalization", 201, 20),
              node("ln1", "LayerNormalization", 210, 30), node("q", "MatMulIntegerToFloat", 220, 2),
              node("ln0_fence", "LayerNormalization", 300, 999)]  # after the last run: not counted
    ops, runs = per_op(events, 2)
    assert runs == [50.0, 50.0]
    assert ops == {"LayerNormalization": {"nodes": 2, "us": 40.0}, "MatMulIntegerToFloat": {"nodes": 1, "us": 4.0}}
    with pytest.raises(ValueError, match="holds 3 runs"):
        per_op(events, 4)
    rows = excess({"LayerNormalization": {"nodes": 2, "us": 80.0}, "Gelu": {"nodes": 1, "us": 40.0}}, ops, ideal=4.0)
    assert [(r["op"], r["excess_us"]) for r in rows] == [("LayerNormalization", 20.0), ("MatMulIntegerToFloat", 4.0),
                                                       ("Gelu", -10.0)]


def test_int8_profile_profiles_the_exported_int8_files_against_their_flops(tiny_export, tmp_path, capsys):
    """On the tiny export (4 layers): every model's LayerNorms follow its depth (embeddings + 2 per layer),
    the FLOPs-ideal ratios are dynabert.stats' at that length, and an unknown sub-model is one line."""
    import int8_profile

    out = tmp_path / "prof"
    result = int8_profile.run_cli(["--export", str(tiny_export.parent), "--models", "w0.25_d1", "w0.25_d0.5",
                                   "--seq", "16", "--runs", "3", "--warmup", "1", "--out", str(out)])
    block = result["by_seq"]["16"]
    layers = {"w1_d1": 4, "w0.25_d1": 4, "w0.25_d0.5": 2}
    for name, n in layers.items():
        ops = block["models"][name]["ops"]
        # Export's timing may have left ONNX Runtime's Add + LayerNorm fusion on for a file (its session settings).
        norms = sum(ops.get(op, {"nodes": 0})["nodes"] for op in ("LayerNormalization", "SkipLayerNormalization"))
        assert norms == 1 + 2 * n
        assert block["models"][name]["p50_ms"] > 0
    assert 1.0 < block["ideal"]["w0.25_d1"] < block["ideal"]["w0.25_d0.5"]
    assert json.loads((out / "int8_profile.json").read_text())["by_seq"]["16"]["ideal"] == block["ideal"]
    assert "### w0.25_d0.5" in (out / "int8_profile.md").read_text()
    assert result["environment"]["cores"] >= 1
    with pytest.raises(SystemExit) as exc:
        int8_profile.main(["--export", str(tiny_export.parent), "--models", "w0.3_d1", "--seq", "16"])
    assert "no onnx-int8 file for w0.3_d1" in str(exc.value) and "\n" not in str(exc.value)


def test_layernorm_alternatives_times_every_candidate_and_checks_it_computes_the_layernorm(tmp_path, capsys):
    """Every candidate graph loads on the pinned ONNX Runtime; the exact ones give the reference LayerNorm's output
    (the check is real: the lower bounds, which are not LayerNorms, are told apart); the files are written."""
    import layernorm_alternatives as la

    out = tmp_path / "ln"
    result = la.run_cli(["--seq", "8", "--hidden", "16", "--steps", "3", "--rounds", "2", "--runs", "1",
                         "--out", str(out)])
    rows = {row["candidate"]: row for row in result["rows"]}
    assert list(rows) == list(la.CANDIDATES)
    assert not [name for name, row in rows.items() if "unsupported" in row]
    assert rows[la.REFERENCE]["x_reference"] == 1.0 and rows[la.REFERENCE]["max_abs_diff"] == 0.0
    for name, row in rows.items():
        assert row["us_per_step"] > 0
        if row["layernorm"]:
            assert row["max_abs_diff"] < 1e-4, name
        else:
            assert row["max_abs_diff"] > 0.01, name
    assert json.loads((out / "layernorm_alternatives.json").read_text())["rows"] == result["rows"]
    assert "| add+reducemean+rms | yes | 23 |" in (out / "layernorm_alternatives.md").read_text()
    with pytest.raises(SystemExit):
        la.run_cli(["--seq", "0"])
    assert "--seq" in capsys.readouterr().err


def test_layernorm_alternatives_lists_a_candidate_onnx_runtime_cannot_load(monkeypatch, tmp_path):
    """A graph this ONNX Runtime cannot run is one row with its one-line error, not a crash."""
    import layernorm_alternatives as la

    original = la.graph_bytes

    def broken(kind, *args):
        return b"not a model" if kind == "add+groupnorm" else original(kind, *args)

    monkeypatch.setattr(la, "graph_bytes", broken)
    result = la.run_cli(["--seq", "4", "--hidden", "8", "--steps", "1", "--rounds", "1", "--runs", "1",
                         "--out", str(tmp_path)])
    row = next(r for r in result["rows"] if r["candidate"] == "add+groupnorm")
    assert "us_per_step" not in row and row["unsupported"] and "\n" not in row["unsupported"]
    assert "| add+groupnorm | yes | 21 | -SkipLayerNormFusion | not supported: " in la.markdown(result)


def test_int8_projections_times_every_width_and_kind_and_checks_the_int8_graphs_compute_the_projections(
        tmp_path, capsys):
    """One row per width of the grid and kind; the INT8 graphs give the fp32 graph's output within quantization
    error, and the check is real (a graph with one weight changed is told apart); the shapes follow
    dynabert.arch; the files are written; bad options are one line."""
    import int8_projections as ip

    out = tmp_path / "proj"
    args = ["--seq", "8", "--hidden", "48", "--heads", "4", "--ffn", "96", "--layers", "2", "--rounds", "2",
            "--runs", "1", "--out", str(out)]
    result = ip.run_cli(args)
    rows = {(row["width"], row["kind"]): row for row in result["rows"]}
    assert set(rows) == {(w, k) for w in (1.0, 0.75, 0.5, 0.25) for k in ip.KINDS}
    assert rows[(0.25, "int8")]["shapes"] == {"query": [48, 12], "key": [48, 12], "value": [48, 12],
                                               "attention_output": [12, 48], "ffn_in": [48, 24], "ffn_out": [24, 48]}
    assert rows[(0.25, "int8")]["ideal"] == 4.0 and rows[(1.0, "fp32")]["share"] == 1.0
    for (width, kind), row in rows.items():
        assert row["ms_per_layer"] > 0
        assert row["max_rel_diff_vs_fp32"] < (1e-6 if kind == "fp32" else 0.08), (width, kind)
    assert json.loads((out / "int8_projections.json").read_text())["rows"] == result["rows"]
    assert "| int8, uint8 weights | 0.25 |" in (out / "int8_projections.md").read_text()

    # the comparison can fail: one INT8 weight off by a lot moves the output well past quantization error
    spec = ip.subnet_spec(num_heads=4, head_size=12, intermediate_size=96, num_layers=1, width_mult=1.0,
                          depth_mult=1.0)
    shapes = ip.layer_shapes(spec, 48)
    layer_weights = ip.weights(shapes, 1, np.random.default_rng(0))
    feeds = {"x": np.random.default_rng(1).normal(size=(1, 8, 48)).astype(np.float32)}

    def output(kind):
        import onnxruntime as ort

        return ort.InferenceSession(ip.graph_bytes(kind, layer_weights, 8, 48)).run(None, feeds)[0]

    reference = output("fp32")
    quantized = ("int8", ip.NBITS_KIND)
    for kind in quantized:
        assert np.abs(output(kind) - reference).max() / np.abs(reference).max() < 0.08, kind
    layer_weights[0]["ffn_out"]["q"][:, 0] = -layer_weights[0]["ffn_out"]["q"][:, 0]
    for kind in quantized:
        assert np.abs(output(kind) - reference).max() / np.abs(reference).max() > 0.2, kind

    with pytest.raises(SystemExit):
        ip.run_cli(["--layers", "0"])
    assert "--layers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        ip.run_cli(["--hidden", "50", "--heads", "4", "--out", str(out)])
    assert "not a multiple of --heads 4" in str(exc.value) and "\n" not in str(exc.value)


def test_int8_speed_only_keeps_the_full_model_and_refuses_an_unknown_name_in_one_line():
    """``--only``: the full model every ratio is taken against is always timed (without it the table could not be
    made, after the whole timing run); a name the export does not hold is one line, before any work."""
    import int8_speed

    known = ["w1_d1", "w1_d0.5", "w0.25_d1", "w0.25_d0.5"]
    manifest = Path("export/manifest.json")
    assert int8_speed.selected(manifest, known, None) == known
    assert int8_speed.selected(manifest, known, ["w0.25_d0.5", "w0.25_d1"]) == ["w1_d1", "w0.25_d1", "w0.25_d0.5"]
    with pytest.raises(SystemExit) as exc:
        int8_speed.selected(manifest, known, ["w0.25_d0.5", "w0.3_d1"])
    message = str(exc.value)
    assert "--only w0.3_d1" in message and "export/manifest.json" in message and "\n" not in message

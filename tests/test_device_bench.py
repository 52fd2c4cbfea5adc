"""device_bench on a tiny exported set: table structure, accuracy vs a direct evaluation, n/a rows, the
spread flag, interleaving, pick and its Android install, the adb flow with a fake adb, CLI errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import BENCH_FORMATS, BENCH_SEQ_ASKED, REPO

from device_bench import adb as adb_mod
from device_bench import latency as lat
from device_bench import pick, runtimes
from device_bench.accuracy import predictions_digest
from device_bench.harness import run
from device_bench.manifest_reader import BenchError, read_manifest
from device_bench.table import CSV_COLUMNS

# The tiny exported set and its benchmark are conftest's session fixtures (``tiny_export``, ``bench``), shared
# with tests/test_pick_table.py so the set is exported once per run.
FORMATS = BENCH_FORMATS
SEQ_ASKED = BENCH_SEQ_ASKED
SEQ_LENS = (16, 64)  # the export's max_length is 64: a longer length is measured at 64


# ---------------------------------------------------------------------------------------------- the table


def test_outputs_and_table_structure(bench, tiny_export):
    results, out = bench
    for name in ("table.md", "table.csv", "results.json", "report.html", "pareto_latency.png", "pareto_size.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*.tmp")), "no temporary file may be left behind"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["rows"] == json.loads(json.dumps(results["rows"]))

    manifest = read_manifest(tiny_export)
    settings = results["settings"]
    expected = set()
    for a in manifest.artifacts:
        for runtime in runtimes.runtimes_for(a):
            kind = runtimes.RUNTIMES[runtime].threads
            threads = settings["cpu_threads"] if kind == "cpu" else settings["mobile_threads"]
            expected |= {(a.id, runtime, t, s) for t in threads for s in SEQ_LENS}
    keys = [(r["artifact"], r["runtime"], r["threads"], r["seq_len"]) for r in results["rows"]]
    assert len(keys) == len(set(keys)), "one row per artifact x runtime x threads x seq"
    assert set(keys) == expected

    with open(out / "table.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == CSV_COLUMNS
        csv_rows = list(reader)
    assert len(csv_rows) == len(results["rows"])

    md = (out / "table.md").read_text()
    assert "measured at 64 (asked: 16, 96)" in md
    assert "## Accuracy and size" in md and "## Latency" in md and "## Headline ratios" in md
    latency_lines = [line for line in md.split("## Latency")[1].splitlines() if line.startswith("| w")]
    assert len(latency_lines) == len(results["rows"])

    full = results["full_subnet"]
    assert full == "w1_d1"
    exported = {a.id for a in manifest.artifacts}
    ok = [r for r in results["rows"] if r["status"] == "ok"]
    assert ok, "something must have been measured"
    p50 = {(r["artifact"], r["runtime"], r["threads"], r["seq_len"]): r["p50_ms"] for r in ok}
    flops = {(r["subnet"], r["seq_len"]): r["flops"] for r in ok}
    for r in ok:
        assert r["p50_ms"] > 0 and r["p90_ms"] >= r["p50_ms"] and r["p99_ms"] >= r["p90_ms"]
        assert r["n"] >= settings["min_runs"] or r["short"]
        assert r["load_ms"] > 0 and r["first_inference_ms"] > 0
        assert r["bytes"] > 0 and r["deflate_bytes"] > 0
        # Ratios: to the full model's row in the same runtime, threads and length (looked up here).
        cell = (r["runtime"], r["threads"], r["seq_len"])
        ref = p50.get((f"{full}/{r['format']}", *cell))
        assert f"{full}/{r['format']}" not in exported or ref is not None, r["artifact"]
        assert r["vs_full"] == (pytest.approx(r["p50_ms"] / ref) if ref else None), r["artifact"]
        ref_onnx = p50.get((f"{full}/onnx", "onnxruntime-cpu", r["threads"], r["seq_len"]))
        assert r["vs_full_onnx_fp32"] == (pytest.approx(r["p50_ms"] / ref_onnx) if ref_onnx else None)
        assert r["flops_ratio"] == pytest.approx(r["flops"] / flops[(full, r["seq_len"])])
        if r["subnet"] == full or not ref:
            assert r["flops_efficiency"] is None
        else:
            assert r["flops_ratio"] < 1.0
            assert r["flops_efficiency"] == pytest.approx(r["flops_ratio"] / r["vs_full"])
        assert r["peak_rss_bytes"] > r["model_rss_bytes"] > 0
    assert {r["vs_full"] for r in ok if r["subnet"] != full} - {None}, "no sub-network was compared to the full one"
    # FLOPs and parameters of w0.25_d0.5, counted by hand from the fixture's shape: hidden 32, 1 of 4 heads
    # (head size 8), 16 of 64 FFN neurons, 2 of 4 layers, 2 labels.
    h, a, ff, layers, labels = 32, 8, 16, 2, 2
    for seq in SEQ_LENS:
        row = next(r for r in ok if r["subnet"] == "w0.25_d0.5" and r["seq_len"] == seq)
        per_layer = (2 * seq * h * 3 * a  # Q, K, V projections
                     + 2 * seq * seq * a * 2  # scores and context
                     + 2 * seq * a * h  # attention output
                     + 2 * seq * h * ff * 2)  # FFN in and out
        assert row["flops"] == layers * per_layer + 2 * h * h + 2 * h * labels  # + pooler, classifier
    per_layer = 3 * (h * a + a) + (a * h + h) + 2 * h + (h * ff + ff) + (ff * h + h) + 2 * h
    assert row["params_encoder"] == layers * per_layer


def test_sizes_are_bytes_and_zip_deflate(bench):
    import zipfile

    results, out = bench
    art = next(a for a in results["artifacts"] if a["format"] == "onnx-int8")
    path = Path(art["path"])
    assert art["bytes"] == path.stat().st_size
    zpath = out / "probe.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(path, "m")
    with zipfile.ZipFile(zpath) as z:
        assert z.getinfo("m").compress_size == art["deflate_bytes"]
    zpath.unlink()


def _direct_metric(artifact, manifest, glue_dir):
    """Whole dev set, one example at a time, through the file with its runtime's plain Python API."""
    from transformers import AutoTokenizer

    from dynabert.data import compute_metrics, get_task, read_glue_split

    task = get_task(manifest.task)
    dev = read_glue_split(glue_dir, task, "dev")
    tok = AutoTokenizer.from_pretrained(manifest.tokenizer_dir)
    if artifact.format == "pte":
        import torch
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(artifact.path)).load_method("forward")

        def infer(enc):
            return method.execute([torch.from_numpy(np.asarray(enc[n], dtype=np.int64))
                                   for n in artifact.input_names])[0].numpy()
    elif artifact.format == "hf":
        import torch
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(artifact.path).eval()

        def infer(enc):
            with torch.no_grad():
                return model(**{k: torch.tensor(v) for k, v in enc.items()}).logits.numpy()
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def infer(enc):
            return session.run(None, {n: np.asarray(enc[n], dtype=np.int64) for n in names})[0]
    logits = np.concatenate([infer(tok(ex.text, truncation=True, max_length=manifest.max_length,
                                       return_tensors="np")) for ex in dev])
    return compute_metrics(task, logits, [ex.label for ex in dev])[task.main_metric], logits


def test_accuracy_equals_a_direct_evaluation(bench, tiny_export, glue_dir):
    results, _ = bench
    manifest = read_manifest(tiny_export)
    by_id = {a["id"]: a for a in results["artifacts"]}
    assert results["dev"]["examples"] == 872  # the whole SST-2 dev set
    checked = 0
    for artifact in manifest.artifacts:
        if artifact.subnet not in ("w1_d1", "w0.25_d0.5"):
            continue
        metric, logits = _direct_metric(artifact, manifest, glue_dir)
        record = by_id[artifact.id]["accuracy"]
        assert record["status"] == "ok", record
        assert record["metric"] == metric, artifact.id
        assert record["predictions_sha256"] == predictions_digest(logits.astype(np.float32)), artifact.id
        checked += 1
    assert checked == 2 * len(FORMATS) + any(a.format == "pte" for a in manifest.artifacts)
    predictions = {by_id[a.id]["accuracy"]["predictions_sha256"] for a in manifest.artifacts}
    assert len({by_id[a.id]["metric"] for a in manifest.artifacts}) > 1 or len(predictions) > 1
    # Deltas: vs the PyTorch sub-network and vs the teacher stand-in (the full hf metric).
    row = next(r for r in results["rows"] if r["artifact"] == "w0.25_d0.5/onnx")
    hf_small = by_id["w0.25_d0.5/hf"]["metric"]
    assert row["metric_vs_pytorch"] == pytest.approx(by_id["w0.25_d0.5/onnx"]["metric"] - hf_small)
    assert row["metric_vs_teacher"] == pytest.approx(by_id["w0.25_d0.5/onnx"]["metric"] - by_id["w1_d1/hf"]["metric"])
    assert "stands in" in results["teacher_metric"]["source"]


class _KeywordRunner(runtimes.Runner):
    """A stand-in model: "positive" exactly when the row holds the token ``great``; counts the rows it sees."""

    runtime = "onnxruntime-cpu"

    def __init__(self, token_id: int) -> None:
        self.token_id, self.rows = token_id, 0

    def run(self, feed):
        ids = feed["input_ids"]
        self.rows += ids.shape[0]
        hit = (ids == self.token_id).any(axis=1)
        return np.stack([np.zeros(len(ids)), np.where(hit, 2.0, -2.0)], axis=1).astype(np.float32)


def test_accuracy_scores_every_dev_example_including_the_last(tmp_path):
    """Against a direct, one-example-at-a-time evaluation, on a dev file whose last example is the only
    one of the minority class (a skipped last row would otherwise go unnoticed), batched and one by one."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from device_bench.accuracy import evaluate, load_dev_set
    from dynabert.backbone import default_backbone_dir
    from dynabert.data import compute_metrics

    rows = [("a dull film", "negative"), ("the plot is thin", "negative"), ("great actors , awful script", "negative"),
            ("a bore", "negative"), ("it drags on and on", "negative"), ("not one good scene", "negative"),
            ("the great escape it is not", "negative"), ("a great , great film", "positive")]
    (tmp_path / "dev.csv").write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows))
    tok = AutoTokenizer.from_pretrained(default_backbone_dir())
    manifest = SimpleNamespace(task="reviews", is_regression=False, label_names=["negative", "positive"],
                               num_labels=2, data_dir=tmp_path, max_length=16)
    dev = load_dev_set(manifest, tokenizer=tok)
    assert dev.examples == len(rows) and dev.labels.tolist() == [0] * 7 + [1]

    model = _KeywordRunner(tok.convert_tokens_to_ids("great"))
    direct = np.concatenate([model.run({"input_ids": tok(t, return_tensors="np")["input_ids"]}) for t, _ in rows])
    want = compute_metrics(dev.task, direct, dev.labels)[dev.main_metric]
    assert want == 6 / 8  # the two "great" negatives are wrong; the last example is right
    for precision in ("fp32", "int8"):  # same-length batches / one example at a time
        artifact = SimpleNamespace(id=f"w1_d1/{precision}", precision=precision, max_length=16,
                                   input_names=("input_ids", "attention_mask", "token_type_ids"),
                                   input_dtypes=("int64",) * 3)
        model.rows = 0
        record = evaluate(model, artifact, dev)
        assert model.rows == len(rows) and record["n"] == len(rows)
        assert record["metric"] == want, precision
        assert record["predictions_sha256"] == predictions_digest(direct)


def test_runtimes_that_cannot_run_are_na_with_a_reason(bench):
    results, out = bench
    for r in results["rows"]:
        reason = runtimes.unavailable_reason(r["runtime"])
        if reason is not None:
            assert r["status"] == "n/a" and r["reason"] == reason
        if r["status"] != "ok":
            assert r["reason"], r
            assert all(r.get(k) is None for k in ("p50_ms", "p90_ms", "p99_ms", "vs_full")), r
    md = (out / "table.md").read_text()
    for line in md.splitlines():
        if "| n/a |" in line:
            assert line.rstrip(" |").split("|")[-1].strip(), "an n/a row must say why"


def test_coreml_is_not_run_off_macos():
    import platform

    from device_bench.harness import BenchSettings, _plan
    from device_bench.manifest_reader import Artifact

    fake = Artifact(id="w1_d1/coreml", subnet="w1_d1", width_mult=1.0, depth_mult=1.0, format="coreml",
                    precision="fp16", runtime="coreml", path=Path("/nonexistent"), rel_path="x", is_dir=True,
                    bytes=1, sha256="", input_names=("input_ids",), input_dtypes=("int32",), max_length=128,
                    status="unverified", raw={})
    plan = _plan([fake], BenchSettings(seq_lens=(32, 128)))
    assert [p.runtime for p in plan] == ["coreml", "coreml"]
    if platform.system() != "Darwin":
        assert all(p.reason == "needs macOS" for p in plan)


# ---------------------------------------------------------------------------------------------- latency method


def test_spread_flag_and_percentiles():
    tight = [0.010] * 90 + [0.011] * 10
    s = lat.summarize(tight)
    assert s["n"] == 100 and s["p50_ms"] == pytest.approx(10.0) and not s["unstable"]
    wide = [0.010] * 50 + [0.030] * 50  # p90 = 30 ms vs p50 = 20 ms (linear): 1.5 -> not above the limit
    assert lat.summarize(wide)["p90_ms"] == pytest.approx(30.0)
    assert lat.summarize(wide)["spread"] == pytest.approx(1.5) and not lat.summarize(wide)["unstable"]
    wider = [0.010] * 80 + [0.040] * 20  # p50 10 ms, p90 40 ms
    assert lat.summarize(wider)["unstable"]
    assert lat.spread_flag(10.0, 15.01) and not lat.spread_flag(10.0, 15.0)
    assert lat.summarize([0.01, 0.02], spread_limit=1.01)["unstable"]
    assert lat.summarize([]) == {"n": 0}


class _FakeRunner(runtimes.Runner):
    runtime = "fake"

    def __init__(self, name: str, log: list[str], cost: float = 0.0) -> None:
        self.name, self.log, self.cost = name, log, cost

    def run(self, feed):
        self.log.append(self.name)
        if self.cost:
            import time

            end = time.perf_counter() + self.cost
            while time.perf_counter() < end:
                pass
        return np.zeros((1, 2), dtype=np.float32)


def test_measure_interleaves_round_robin_until_runs_and_seconds():
    log: list[str] = []
    cells = [lat.Cell(key=n, runner=_FakeRunner(n, log, cost), feed={}) for n, cost in
             (("slow", 0.002), ("fast", 0.0), ("mid", 0.0005))]
    settings = lat.LatencySettings(warmup=2, min_runs=6, min_seconds=0.01, max_group_seconds=30)
    lat.prepare(cells, settings)
    log.clear()
    info = lat.measure(cells, settings)
    for cell in cells:
        assert len(cell.samples) >= 6 and cell.total >= 0.01
    assert not info["truncated"] and info["rounds"] >= 6
    # Round-robin: every model runs in every round, so no model finishes before another starts.
    first = {n: log.index(n) for n in ("slow", "fast", "mid")}
    last = {n: len(log) - 1 - log[::-1].index(n) for n in ("slow", "fast", "mid")}
    assert max(first.values()) < min(last.values())
    switches = sum(1 for a, b in zip(log, log[1:], strict=False) if a != b)
    assert switches >= 3 * (info["rounds"] - 1)


def test_text_of_exact_token_length(tiny_export):
    from device_bench.accuracy import load_tokenizer
    from device_bench.texts import text_with_tokens

    tok = load_tokenizer(read_manifest(tiny_export, verify_files=False))
    sentences = ["a gorgeous , witty , seductive movie .", "unflinchingly bleak and desperate"]
    for n in (3, 8, 32, 128):
        assert len(tok(text_with_tokens(tok, sentences, n))["input_ids"]) == n


# ---------------------------------------------------------------------------------------------- pick


def _synthetic_results(tmp_path: Path) -> dict:
    arts, rows = [], []
    table = [  # id, format, metric, p50 ms, MB
        ("w1_d1/onnx", "onnx", 0.92, 40.0, 90), ("w1_d1/onnx-int8", "onnx-int8", 0.915, 20.0, 23),
        ("w0.5_d0.5/onnx", "onnx", 0.90, 12.0, 60), ("w0.5_d0.5/ort-int8", "ort-int8", 0.895, 6.0, 15),
        ("w0.25_d0.5/onnx-int8", "onnx-int8", 0.86, 3.0, 13), ("w1_d1/pte", "pte", 0.921, 30.0, 90),
    ]
    for art_id, fmt, metric, p50, mb in table:
        subnet = art_id.split("/")[0]
        runtime = {"onnx": "onnxruntime", "onnx-int8": "onnxruntime", "ort-int8": "onnxruntime-mobile",
                   "pte": "executorch-xnnpack"}[fmt]
        arts.append({"id": art_id, "subnet": subnet, "format": fmt, "precision": "int8" if "int8" in fmt else "fp32",
                     "runtime": runtime, "metric": metric, "bytes": int(mb * 1e6), "export_status": "passed",
                     "width_mult": 1.0, "depth_mult": 1.0, "path": str(tmp_path / "none"), "sha256": ""})
        rows.append({"artifact": art_id, "runtime": runtimes.ACCURACY_RUNTIME[runtime], "threads": 1, "seq_len": 128,
                     "status": "ok", "p50_ms": p50})
    return {"schema": "dynabert-edge/device-bench/v1", "metric_name": "accuracy", "artifacts": arts, "rows": rows,
            "manifest": str(tmp_path / "manifest.json"), "task": "sst2"}


def test_pick_constraint_logic(tmp_path):
    res = _synthetic_results(tmp_path)

    def chosen(**kw):
        c = pick.best(pick.candidates(res, **kw))
        return c.artifact["id"] if c else None

    assert chosen() == "w1_d1/pte"  # no constraint: the most accurate
    assert chosen(max_latency_ms=25) == "w1_d1/onnx-int8"
    assert chosen(max_latency_ms=25, max_mb=20) == "w0.5_d0.5/ort-int8"
    assert chosen(max_latency_ms=25, max_mb=20, min_metric=0.89) == "w0.5_d0.5/ort-int8"
    assert chosen(max_latency_ms=25, max_mb=20, min_metric=0.9) is None
    assert chosen(max_latency_ms=5) == "w0.25_d0.5/onnx-int8"
    assert chosen(app_only=True) == "w1_d1/onnx"  # .pte cannot go into the ORT app
    assert chosen(max_latency_ms=25, runtime="onnxruntime-mobile") == "w0.5_d0.5/ort-int8"
    why = pick.explain_none(pick.candidates(res, max_latency_ms=1, max_mb=10, min_metric=0.95))
    assert "p50 40 ms > 1 ms" in why and "90.00 MB > 10 MB" in why and "accuracy 0.8600 < 0.95" in why


def test_pick_breaks_metric_ties_by_speed_then_size(tmp_path):
    res = _synthetic_results(tmp_path)
    # equal accuracy: the faster wins, whatever the order they are listed in
    for art in res["artifacts"]:
        art["metric"] = 0.9
    for order in (1, -1):
        res["artifacts"], res["rows"] = res["artifacts"][::order], res["rows"][::order]
        assert pick.best(pick.candidates(res)).artifact["id"] == "w0.25_d0.5/onnx-int8"  # 3 ms
    # equal accuracy and speed: the smaller wins
    for row in res["rows"]:
        row["p50_ms"] = 5.0
    for order in (1, -1):
        res["artifacts"], res["rows"] = res["artifacts"][::order], res["rows"][::order]
        assert pick.best(pick.candidates(res)).artifact["id"] == "w0.25_d0.5/onnx-int8"  # 13 MB


def test_pick_cli_no_fit_exits_1_and_says_why(bench, capsys):
    _, out = bench
    assert pick.main(["--results", str(out / "results.json"), "--max-latency-ms", "0.000001"]) == 1
    text = capsys.readouterr().out
    assert "no model meets all constraints" in text and "> 1e-06 ms" in text
    assert pick.main(["--results", str(out / "results.json"), "--min-metric", "90"]) == 2


def test_pick_install_into_android_assets(bench, tiny_export, tmp_path, capsys):
    _, out = bench
    demo = tmp_path / "android_demo"
    (demo / "app" / "src" / "main" / "assets").mkdir(parents=True)
    stale = demo / "app/src/main/assets/models/old_model"
    stale.mkdir(parents=True)
    assert pick.main(["--results", str(out / "results.json"), "--max-mb", "100", "--install-into", str(demo),
                      "--replace"]) == 0
    printed = capsys.readouterr().out
    models = demo / "app/src/main/assets/models"
    folders = [p for p in models.iterdir() if p.is_dir()]
    assert len(folders) == 1 and not stale.exists()
    folder = folders[0]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["labels.json", "model_card.json", "vocab.txt", "model.onnx" if "_onnx" in folder.name else "model.ort"])
    card = json.loads((folder / "model_card.json").read_text())
    assert card["name"] == folder.name and card["format"] in ("onnx", "ort")
    assert card["model_file"] in ("model.onnx", "model.ort") and (folder / card["model_file"]).is_file()
    # The card's metric is the results' metric of the installed file, which is the best of the app's files
    results = json.loads((out / "results.json").read_text())
    by_id = {a["id"]: a for a in results["artifacts"]}
    assert card["metric"] == {"name": "accuracy", "value": round(by_id[card["source"]["artifact"]]["metric"], 6)}
    app_metrics = [a["metric"] for a in results["artifacts"] if a["format"] in adb_mod.APP_FORMATS
                   and a["metric"] is not None and a["bytes"] <= 100e6 and a.get("export_status") != "failed"]
    assert card["metric"]["value"] == round(max(app_metrics), 6)
    assert card["inputs"] == ["input_ids", "attention_mask", "token_type_ids"] and card["input_dtype"] == "int64"
    assert card["max_length"] == 64 and card["do_lower_case"] is True
    manifest = read_manifest(tiny_export, verify_files=False)
    assert json.loads((folder / "labels.json").read_text()) == ["negative", "positive"]
    assert (folder / "vocab.txt").read_bytes() == manifest.vocab.read_bytes()
    art = next(a for a in manifest.artifacts if a.id == card["source"]["artifact"])
    assert (folder / card["model_file"]).read_bytes() == art.path.read_bytes() and card["bytes"] == art.bytes
    assert f"installed into {folder}" in printed
    # Not the app folder: a clear error.
    assert pick.main(["--results", str(out / "results.json"), "--install-into", str(tmp_path / "nope")]) == 2


# ---------------------------------------------------------------------------------------------- adb


FAKE_ADB = textwrap.dedent('''\
    #!{python}
    """A fake adb: records each call, answers like a phone running the demo's benchmark mode."""
    import json, os, shutil, sys
    state = os.environ["FAKE_ADB_DIR"]
    args = sys.argv[1:]
    with open(os.path.join(state, "calls.jsonl"), "a") as fh:
        fh.write(json.dumps(args) + "\\n")
    if args[:2] == ["-s", "FAKE01"]:
        args = args[2:]
    if args == ["devices"]:
        print("List of devices attached\\nFAKE01\\tdevice\\nOFF02\\toffline\\n")
    elif args[:3] == ["shell", "pm", "list"]:
        print("package:org.dynabert.edge.demo")
    elif args == ["logcat", "-c"]:
        pass
    elif args[0] == "shell" and args[1].startswith("am start"):
        out = args[1].split("--es out ")[1].split()[0]
        open(os.path.join(state, "pending"), "w").write(out)
        open(os.path.join(state, "polls"), "w").write("0")
        print("Starting: Intent { cmp=org.dynabert.edge.demo/.BenchmarkActivity (has extras) }")
    elif args[:2] == ["logcat", "-d"]:
        polls = int(open(os.path.join(state, "polls")).read()) + 1
        open(os.path.join(state, "polls"), "w").write(str(polls))
        out = open(os.path.join(state, "pending")).read()
        print("I DynaBertBench: runs 50, warmup 5")
        if polls >= 2:  # not done at the first poll
            print("I DynaBertBench: DYNABERT_BENCH_DONE /storage/emulated/0/Android/data/"
                  "org.dynabert.edge.demo/files/" + out)
    elif args[0] == "pull":
        shutil.copyfile(os.path.join(state, "result.json"), args[2])
    else:
        print("unexpected: " + " ".join(args), file=sys.stderr)
        sys.exit(1)
    ''')


def _phone_result(entries: list[dict]) -> dict:
    return {"schema": "dynabert-edge/android-bench/v1", "status": "ok", "started_at_ms": 1, "finished_at_ms": 2,
            "device": {"manufacturer": "Google", "model": "Pixel 7", "cores": 8},
            "runtime": {"name": "onnxruntime-android", "version": "1.31.1"},
            "settings": {"runs": 50, "warmup": 5, "threads": 1, "models": "all"}, "models": entries}


def _phone_entry(folder: str, median: float, fmt: str = "onnx", precision: str = "int8") -> dict:
    stats = {"count": 50, "mean": median, "median": median, "p90": median * 1.1, "min": median * 0.9,
             "max": median * 1.3, "std": 0.1}
    return {"name": folder, "folder": folder, "width_mult": 1.0, "depth_mult": 1.0, "format": fmt,
            "precision": precision, "status": "ok", "load_ms": 120.0, "runs": 50, "model_ms": stats,
            "tokenize_ms": stats, "total_ms": stats, "seq_len_min": 16, "seq_len_max": 16}


def test_adb_flow_with_a_fake_adb(tmp_path, monkeypatch, tiny_export):
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    fake = bin_dir / "adb"
    fake.write_text(FAKE_ADB.replace("{python}", sys.executable))
    fake.chmod(0o755)
    manifest = read_manifest(tiny_export, verify_files=False)
    arts = {a.id: a for a in manifest.artifacts}
    full_id, small_id = "w1_d1/onnx-int8", "w0.25_d0.5/onnx-int8"
    (state / "result.json").write_text(json.dumps(_phone_result([
        _phone_entry(adb_mod.folder_name(full_id), 8.0), _phone_entry(adb_mod.folder_name(small_id), 2.0),
        {"name": "broken", "folder": "broken", "status": "error", "error": "OrtException: bad model"}])))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("FAKE_ADB_DIR", str(state))

    result = adb_mod.maybe_run("on", manifest, list(arts.values()), {16: "a gorgeous movie"},
                               {"threads": [2], "poll_s": 0.01, "runs": 50}, tmp_path / "out")
    assert result["status"] == "ok" and result["serial"] == "FAKE01"
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert calls[0] == ["devices"]
    assert calls[1] == ["-s", "FAKE01", "shell", "pm", "list", "packages", "org.dynabert.edge.demo"]
    assert calls[2] == ["-s", "FAKE01", "logcat", "-c"]
    start = calls[3]
    assert start[:3] == ["-s", "FAKE01", "shell"]
    assert start[3].startswith("am start -W -n org.dynabert.edge.demo/.BenchmarkActivity ")
    for extra in ("--es runs 50", "--es warmup 5", "--es threads 2", "--es models all", "--es out bench_s16_t2.json",
                  "--es finish true", "--es text 'a gorgeous movie'"):
        assert extra in start[3]
    polls = [c for c in calls if c[2:4] == ["logcat", "-d"]]
    assert len(polls) == 2  # polled until the DONE line appeared
    # The file is pulled from where the app said it wrote it (the DONE line), via a temporary name, into
    # <out>/android/.
    pull = calls[-1]
    assert pull[:4] == ["-s", "FAKE01", "pull",
                        "/storage/emulated/0/Android/data/org.dynabert.edge.demo/files/bench_s16_t2.json"]
    assert Path(pull[4]).parent == tmp_path / "out" / "android" and pull[4].endswith(".tmp")
    local = tmp_path / "out" / "android" / "bench_s16_t2.json"
    assert json.loads(local.read_text())["schema"] == "dynabert-edge/android-bench/v1"
    assert result["runs"][0]["result"]["local_path"] == str(local)
    assert not list(local.parent.glob(".*.tmp"))

    rows = adb_mod.rows_from(result, manifest, list(arts.values()), [])
    by = {r["artifact"]: r for r in rows}
    assert by[full_id]["runtime"] == "android-onnxruntime" and by[full_id]["device"] == "Google Pixel 7"
    assert by[full_id]["p50_ms"] == 8.0 and by[full_id]["p99_ms"] is None and by[full_id]["vs_full"] == 1.0
    assert by[small_id]["vs_full"] == pytest.approx(0.25) and by[small_id]["threads"] == 2
    assert by["broken"]["status"] == "n/a" and "bad model" in by["broken"]["reason"]


def test_adb_absent_or_no_device(tmp_path, monkeypatch, tiny_export):
    manifest = read_manifest(tiny_export, verify_files=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    monkeypatch.delenv("ADB", raising=False)
    result = adb_mod.maybe_run("auto", manifest, manifest.artifacts, {16: "x"}, {}, tmp_path)
    assert result == {"status": "not run", "reason": "adb not found (install platform-tools or set $ADB)"}
    with pytest.raises(BenchError, match="adb not found"):
        adb_mod.maybe_run("on", manifest, manifest.artifacts, {16: "x"}, {}, tmp_path)
    assert adb_mod.maybe_run("off", manifest, manifest.artifacts, {}, {}, tmp_path)["status"] == "not run"


# ---------------------------------------------------------------------------------------------- errors


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device_bench", *args], cwd=REPO, capture_output=True, text=True)


def test_cli_errors_are_one_line(tmp_path, tiny_export):
    missing = _cli("--manifest", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "no such manifest" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    bad = tmp_path / "bad" / "manifest.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    proc = _cli("--manifest", str(bad))
    assert proc.returncode == 2 and "not a valid manifest" in proc.stderr

    copy = tmp_path / "copy"
    shutil.copytree(tiny_export.parent, copy)
    victim = copy / "w0.25_d0.5" / "model.int8.onnx"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    with pytest.raises(BenchError, match=r"w0.25_d0.5/onnx-int8: .* has sha256 .* the manifest says"):
        read_manifest(copy / "manifest.json")
    proc = _cli("--manifest", str(copy / "manifest.json"))
    assert proc.returncode == 2 and "w0.25_d0.5/onnx-int8" in proc.stderr and "sha256" in proc.stderr
    victim.unlink()
    proc = _cli("--manifest", str(copy / "manifest.json"))
    assert proc.returncode == 2 and "w0.25_d0.5/onnx-int8: file" in proc.stderr and "does not exist" in proc.stderr

    help_text = _cli("--help").stdout
    assert "--manifest" in help_text and "--fast" in help_text and "n/a" in help_text


def test_export_calls_run_with_the_manifest_path_only():
    import inspect

    params = inspect.signature(run).parameters
    assert list(params)[0] == "manifest_path"
    assert all(p.default is not inspect.Parameter.empty or p.kind == p.VAR_KEYWORD for p in list(params.values())[1:])

"""Bad input to ``python -m device_bench`` and ``python -m device_bench.pick`` (issue #11, hardening).

Each class of bad input, with its neighbours: paths in a manifest or results file that leave their folder,
installs of files that cannot be checked or do not match their labels, numeric options out of range,
malformed JSON, output folders that cannot be written, Ctrl-C. Every user error must be one line on stderr
naming what and where, exit 2, with nothing written. The export here is hand-made (a one-op ONNX
classifier with the packaged tokenizer), so the whole module runs in seconds; tests/test_device_bench.py
covers a real export.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from device_bench import __main__ as bench_cli
from device_bench import harness, pick
from device_bench.accuracy import load_dev_set, sample_indices
from device_bench.manifest_reader import BenchError, read_manifest
from dynabert.fileio import PathEscapeError, resolve_inside, sha256_path

LABELS = ["negative", "positive"]
SEQ = 16


# ---------------------------------------------------------------------------------------------- fixtures


def _onnx_classifier(path: Path, outputs: int) -> None:
    """logits = mean(input_ids) * W: any ids in, ``outputs`` logits out; what ORT needs, nothing more."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.linspace(-1, 1, outputs, dtype=np.float32).reshape(1, outputs), "W")
    graph = helper.make_graph(
        [helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
         helper.make_node("ReduceMean", ["ids_f"], ["mean"], axes=[1], keepdims=1),
         helper.make_node("MatMul", ["mean", "W"], ["logits"])],
        "toy",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", outputs])],
        [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def make_export(root: Path, *, outputs: int = 2, label_names: list[str] | None = None,
                dev_rows: list[tuple[str, str]] | None = None) -> Path:
    """A one-artifact export folder (``w1_d1/onnx``) with the packaged tokenizer; returns its manifest."""
    from dynabert.backbone import default_backbone_dir

    label_names = LABELS if label_names is None else label_names
    tok = root / "tokenizer"
    tok.mkdir(parents=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(Path(default_backbone_dir()) / name, tok / name)
    (root / "w1_d1").mkdir()
    model = root / "w1_d1" / "model.onnx"
    _onnx_classifier(model, outputs)
    data = root.parent / f"{root.name}-data"
    data.mkdir()
    rows = dev_rows or [("a fine film", "positive"), ("a dull film", "negative")]
    (data / "dev.csv").write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    manifest = {
        "schema_version": 1, "generator": "tests", "task": "toy", "label_names": label_names,
        "num_labels": len(label_names), "is_regression": False, "max_length": SEQ,
        "checkpoint": {"model_type": "bert"},
        "tokenizer": {"dir": "tokenizer", "vocab": "tokenizer/vocab.txt", "pad_token_id": 0, "do_lower_case": True},
        "verification": {"split": "dev", "data": str(data / "dev.csv")},
        "subnets": [{"name": "w1_d1", "dir": "w1_d1", "width_mult": 1.0, "depth_mult": 1.0}],
        "artifacts": [{"id": "w1_d1/onnx", "subnet": "w1_d1", "width_mult": 1.0, "depth_mult": 1.0,
                       "format": "onnx", "precision": "fp32", "runtime": "onnxruntime", "path": "w1_d1/model.onnx",
                       "is_dir": False, "bytes": model.stat().st_size, "sha256": sha256_path(model),
                       "inputs": [{"name": "input_ids", "dtype": "int64"},
                                  {"name": "attention_mask", "dtype": "int64"}],
                       "max_length": SEQ, "status": "passed"}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root / "manifest.json"


def make_results(manifest_path: Path, out: Path) -> Path:
    """A results.json for ``make_export``'s artifact, as device_bench writes it (the fields pick reads)."""
    m = json.loads(manifest_path.read_text())
    a = m["artifacts"][0]
    results = {
        "schema": harness.RESULTS_SCHEMA, "manifest": str(manifest_path.resolve()), "task": m["task"],
        "metric_name": "accuracy", "dev": {"path": "dev.csv", "examples": 2, "total_examples": 2, "sampling": None},
        "artifacts": [{"id": a["id"], "subnet": a["subnet"], "width_mult": 1.0, "depth_mult": 1.0,
                       "format": a["format"], "precision": a["precision"], "runtime": a["runtime"],
                       "path": str(manifest_path.parent / a["path"]), "rel_path": a["path"], "sha256": a["sha256"],
                       "export_status": "passed", "max_length": SEQ, "input_names": ["input_ids", "attention_mask"],
                       "input_dtypes": ["int64", "int64"], "metric": 0.9, "bytes": a["bytes"]}],
        "rows": [{"artifact": a["id"], "runtime": "onnxruntime-cpu", "threads": 1, "seq_len": SEQ, "status": "ok",
                  "p50_ms": 1.5}],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return out / "results.json"


@pytest.fixture
def export(tmp_path) -> Path:
    return make_export(tmp_path / "export")


@pytest.fixture
def demo(tmp_path) -> Path:
    app = tmp_path / "android_demo"
    (app / "app" / "src" / "main" / "assets").mkdir(parents=True)
    return app


def _edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "error:" in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def _bench(*args: str) -> int:
    return bench_cli.main([*args, "--no-progress", "--android", "off"])


def _installed(demo: Path) -> list[str]:
    models = demo / "app/src/main/assets/models"
    return sorted(p.name for p in models.iterdir()) if models.is_dir() else []


# ---------------------------------------------------------------------------------------------- paths


def test_resolve_inside(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("x")
    (tmp_path / "a" / "in").symlink_to(tmp_path / "a" / "b" / "f")
    (tmp_path / "a" / "out").symlink_to(tmp_path / "f-outside")
    root = tmp_path / "a"
    assert resolve_inside(root, "b/f") == (root / "b" / "f").resolve()
    assert resolve_inside(root, "b/../b/f") == (root / "b" / "f").resolve()
    assert resolve_inside(root, "in") == (root / "b" / "f").resolve()  # a symlink that stays inside is fine
    (root / "loop").symlink_to(root / "loop")
    for bad in ("../f", "b/../../f", "/etc/passwd", str(root / "b" / "f"), "out", "", "   ", "b/\0f", "loop"):
        with pytest.raises(PathEscapeError):
            resolve_inside(root, bad)


def _symlink_out(m: dict, root: Path) -> None:
    (root / "w1_d1" / "link.onnx").symlink_to("/etc/passwd")
    m["artifacts"][0]["path"] = "w1_d1/link.onnx"


def _hf_dir_with_a_link_out(m: dict, root: Path) -> None:
    hf = root / "w1_d1" / "hf"
    hf.mkdir()
    (hf / "config.json").symlink_to("/etc/passwd")
    m["artifacts"].append({**m["artifacts"][0], "id": "w1_d1/hf", "format": "hf", "runtime": "transformers",
                           "path": "w1_d1/hf", "is_dir": True})


def _failed_artifact_out(m: dict, root: Path) -> None:
    m["artifacts"].append({**m["artifacts"][0], "id": "w1_d1/ort", "status": "failed", "path": "../../etc/passwd"})


ESCAPES = {
    "artifact relative": ("path", lambda m, r: m["artifacts"][0].update(path="../../../../etc/passwd")),
    "artifact absolute": ("path", lambda m, r: m["artifacts"][0].update(path="/etc/passwd")),
    "artifact symlink": ("path", _symlink_out),
    "file in a folder artifact": ("path", _hf_dir_with_a_link_out),
    "failed artifact": ("path", _failed_artifact_out),
    "tokenizer relative": ("tokenizer.dir", lambda m, r: m["tokenizer"].update(dir="../../../../etc")),
    "tokenizer absolute": ("tokenizer.dir", lambda m, r: m["tokenizer"].update(dir="/etc")),
    "vocab": ("tokenizer.vocab", lambda m, r: m["tokenizer"].update(vocab="../../../../etc/passwd")),
    "labels": ("labels", lambda m, r: m.update(labels="/etc/passwd")),
    "data relative": ("verification.data", lambda m, r: m["verification"].update(data="../../etc")),
    "data not a dev file": ("verification.data", lambda m, r: m["verification"].update(data="/etc/passwd")),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_manifest_paths_stay_in_the_manifest_folder(case, export, tmp_path, capsys):
    field, change = ESCAPES[case]
    _edit(export, lambda m: change(m, export.parent))
    out = tmp_path / "bench"
    assert _bench("--manifest", str(export), "--out", str(out)) == 2
    _one_line_error(capsys, str(export), repr(field), "refused")
    assert not out.exists(), "nothing may be written for a refused manifest"
    with pytest.raises(BenchError, match=f"'{field}' refused"):
        read_manifest(export, verify_files=False)


def test_manifest_paths_inside_are_accepted(export):
    manifest = read_manifest(export)
    assert manifest.artifacts[0].path == (export.parent / "w1_d1" / "model.onnx").resolve()
    assert manifest.tokenizer_dir == (export.parent / "tokenizer").resolve()
    assert manifest.vocab.is_file() and manifest.data_dir.name == "dev.csv"


# ---------------------------------------------------------------------------------------------- pick --install-into


def _pick_install(results: Path, demo: Path, *extra: str) -> int:
    return pick.main(["--results", str(results), "--install-into", str(demo), *extra])


def test_pick_installs_a_checked_model(export, demo, tmp_path, capsys):
    results = make_results(export, tmp_path / "bench")
    assert _pick_install(results, demo) == 0
    folder = demo / "app/src/main/assets/models/w1_d1_onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["labels.json", "model.onnx", "model_card.json", "vocab.txt"]
    assert (folder / "model.onnx").read_bytes() == (export.parent / "w1_d1" / "model.onnx").read_bytes()
    assert json.loads((folder / "labels.json").read_text()) == LABELS
    assert pick.output_size(folder / "model.onnx") == len(LABELS)
    assert f"installed into {folder}" in capsys.readouterr().out


def test_pick_ignores_the_results_path_and_installs_the_manifest_file(export, demo, tmp_path):
    # The results file's own path is never opened: /etc/passwd is not installed as model.onnx.
    results = _edit(make_results(export, tmp_path / "bench"),
                    lambda r: r["artifacts"][0].update(path="/etc/passwd", rel_path="../../../../etc/passwd"))
    assert _pick_install(results, demo) == 0
    installed = demo / "app/src/main/assets/models/w1_d1_onnx/model.onnx"
    assert installed.read_bytes() == (export.parent / "w1_d1" / "model.onnx").read_bytes()


INSTALL_REFUSALS = {
    "empty sha256 in the results": (lambda r, m: r["artifacts"][0].update(sha256=""), "no sha256"),
    "missing sha256 in the results": (lambda r, m: r["artifacts"][0].pop("sha256"), "no sha256"),
    "empty sha256 in the manifest": (lambda r, m: _edit(m, lambda d: d["artifacts"][0].update(sha256="")),
                                     "no sha256"),
    "results and manifest disagree": (lambda r, m: r["artifacts"][0].update(sha256="0" * 64), "disagree"),
    "file changed after export": (lambda r, m: (m.parent / "w1_d1" / "model.onnx").write_bytes(b"evil"),
                                  "sha256 mismatch"),
    "manifest path escapes": (lambda r, m: _edit(m, lambda d: d["artifacts"][0].update(path="/etc/passwd")),
                              "'path' refused"),
    "artifact id climbs out": (lambda r, m: (r["artifacts"][0].update(id=".."), r["rows"][0].update(artifact="..")),
                               "not a usable assets folder name"),
    "artifact not in the manifest": (lambda r, m: (r["artifacts"][0].update(id="w1_d1/ort"),
                                                   r["rows"][0].update(artifact="w1_d1/ort")), "not a usable artifact"),
    "manifest missing": (lambda r, m: r.update(manifest=str(m.parent / "nope.json")), "no such manifest"),
}


@pytest.mark.parametrize("case", sorted(INSTALL_REFUSALS))
def test_pick_refuses_to_install_what_it_cannot_check(case, export, demo, tmp_path, capsys):
    change, message = INSTALL_REFUSALS[case]
    results_path = make_results(export, tmp_path / "bench")
    results = json.loads(results_path.read_text())
    change(results, export)
    results_path.write_text(json.dumps(results))
    assert _pick_install(results_path, demo) == 2
    _one_line_error(capsys, message)
    assert _installed(demo) == [], "nothing may be installed"
    assert not list(demo.rglob("*.tmp"))


def test_pick_refuses_labels_that_do_not_match_the_model(tmp_path, demo, capsys):
    # Two label names next to a three-logit graph (the example): refused before anything is written,
    # and an earlier install of the same model stays as it was.
    export = make_export(tmp_path / "export", outputs=3)
    results = make_results(export, tmp_path / "bench")
    previous = demo / "app/src/main/assets/models/w1_d1_onnx"
    previous.mkdir(parents=True)
    (previous / "model.onnx").write_bytes(b"the previous install")
    assert _pick_install(results, demo) == 2
    _one_line_error(capsys, "3 outputs", "2 labels", "nothing installed")
    assert _installed(demo) == ["w1_d1_onnx"]
    assert [p.name for p in previous.iterdir()] == ["model.onnx"]
    assert (previous / "model.onnx").read_bytes() == b"the previous install"


def test_pick_install_into_an_unwritable_place(export, tmp_path, capsys):
    results = make_results(export, tmp_path / "bench")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert _pick_install(results, a_file) == 2
    _one_line_error(capsys, "not the Android demo")
    demo = tmp_path / "demo"
    (demo / "app/src/main/assets").mkdir(parents=True)
    (demo / "app/src/main/assets/models").write_text("a file where the models folder goes")
    assert _pick_install(results, demo) == 2
    _one_line_error(capsys, "nothing installed")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_pick_install_into_a_read_only_app(export, demo, tmp_path, capsys):
    results = make_results(export, tmp_path / "bench")
    assets = demo / "app/src/main/assets"
    assets.chmod(0o555)
    try:
        assert _pick_install(results, demo) == 2
        _one_line_error(capsys, "nothing installed")
    finally:
        assets.chmod(0o755)


# ---------------------------------------------------------------------------------------------- numeric options


PICK_BAD_OPTIONS = [
    ("--max-mb", "nan"), ("--max-mb", "inf"), ("--max-mb", "0"), ("--max-mb", "-1"), ("--max-mb", "ten"),
    ("--max-latency-ms", "inf"), ("--max-latency-ms", "0"), ("--max-latency-ms", "-1"), ("--max-latency-ms", "nan"),
    ("--min-metric", "90"), ("--min-metric", "-0.1"), ("--min-metric", "nan"),
    ("--threads", "0"), ("--threads", "-1"), ("--threads", "1.5"), ("--seq-len", "0"), ("--seq-len", "-3"),
]


@pytest.mark.parametrize("option,value", PICK_BAD_OPTIONS)
def test_pick_numeric_options_are_checked(option, value, export, tmp_path, capsys):
    results = make_results(export, tmp_path / "bench")
    assert pick.main(["--results", str(results), option, value]) == 2
    _one_line_error(capsys, option, repr(value))


BENCH_BAD_OPTIONS = [
    ("--jobs", "0"), ("--jobs", "-2"), ("--accuracy-limit", "0"), ("--accuracy-limit", "-5"),
    ("--cpu-threads", "0"), ("--cpu-threads", "1,0"), ("--cpu-threads", ","), ("--mobile-threads", "-1"),
    ("--android-threads", "0"), ("--seq-lens", "2"), ("--seq-lens", "0,32"), ("--seq-lens", "a"),
    ("--runs", "0"), ("--warmup", "-1"), ("--min-seconds", "nan"), ("--min-seconds", "-1"),
    ("--spread-limit", "0.5"), ("--spread-limit", "inf"), ("--max-group-seconds", "0"),
    ("--max-group-seconds", "inf"), ("--teacher-metric", "2"), ("--teacher-metric", "nan"),
    ("--android-runs", "0"),
]


@pytest.mark.parametrize("option,value", BENCH_BAD_OPTIONS)
def test_device_bench_numeric_options_are_checked(option, value, export, tmp_path, capsys):
    out = tmp_path / "bench"
    assert _bench("--manifest", str(export), "--out", str(out), option, value) == 2
    _one_line_error(capsys, option, repr(value))
    assert not out.exists()


def test_paths_given_as_options_must_exist(export, tmp_path, capsys):
    assert _bench("--manifest", str(export), "--data-dir", str(tmp_path / "no-glue")) == 2
    _one_line_error(capsys, "--data-dir", "no such file or folder")
    assert _bench("--manifest", str(export), "--android", "on", "--android-apk", str(tmp_path / "app.apk")) == 2
    _one_line_error(capsys, "--android-apk", "no such file")


def test_pick_runtime_or_length_never_measured(export, tmp_path, capsys):
    results = make_results(export, tmp_path / "bench")
    assert pick.main(["--results", str(results), "--runtime", "onnxruntime-gpu", "--max-latency-ms", "5"]) == 2
    _one_line_error(capsys, "--runtime onnxruntime-gpu", "measured: onnxruntime-cpu")
    assert pick.main(["--results", str(results), "--seq-len", "77", "--max-latency-ms", "5"]) == 2
    _one_line_error(capsys, "--seq-len 77", f"measured: {SEQ}")
    assert pick.main(["--results", str(results), "--runtime", "onnxruntime-cpu", "--seq-len", str(SEQ)]) == 0


@pytest.mark.parametrize("setting", [
    {"jobs": -1}, {"accuracy_limit": 0}, {"seq_lens": (2,)}, {"cpu_threads": (0,)}, {"mobile_threads": ()},
    {"min_runs": 0}, {"warmup": -1}, {"min_seconds": math.nan}, {"spread_limit": math.inf},
    {"max_group_seconds": 0.0}, {"runtimes": ("onnxruntime-gpu",)}, {"formats": ()},
])
def test_library_settings_are_checked_too(setting):
    with pytest.raises(BenchError):
        harness.resolve_settings(**setting)
    assert harness.resolve_settings(jobs=0).jobs == 0  # the library's documented "all cores"


def test_unknown_runtime_is_one_line(export, tmp_path, capsys):
    assert _bench("--manifest", str(export), "--out", str(tmp_path / "b"), "--runtimes", "onnxruntime-gpu") == 2
    _one_line_error(capsys, "unknown runtime(s) onnxruntime-gpu", "onnxruntime-cpu")


# ---------------------------------------------------------------------------------------------- --accuracy-limit


def test_sample_is_stratified_seeded_and_in_order():
    labels = [0] * 600 + [1] * 272  # SST-2's dev set size, sorted by class: the first 100 rows are all 0
    idx = sample_indices(labels, 100)
    assert len(idx) == len(set(idx)) == 100 and idx == sorted(idx)
    assert Counter(labels[i] for i in idx) == {0: 69, 1: 31}  # 600/872 and 272/872 of 100, rounded
    assert idx == sample_indices(labels, 100), "the same sample every run (the accuracy cache relies on it)"
    assert idx != list(range(100)) and idx != sample_indices(labels, 100, seed=1)
    rare = [0] * 500 + [1] * 499 + [2]
    assert Counter(rare[i] for i in sample_indices(rare, 10)) == {0: 5, 1: 4, 2: 1}  # every class shows up
    assert sample_indices(labels, 872) == list(range(872)) == sample_indices(labels, 5000)
    reg = sample_indices([0.1 * i for i in range(50)], 7, stratified=False)
    assert len(set(reg)) == 7 and reg == sorted(reg)


def test_accuracy_limit_samples_a_class_sorted_dev_set(tmp_path):
    rows = [(f"bad film {i}", "negative") for i in range(30)] + [(f"good film {i}", "positive") for i in range(10)]
    manifest = read_manifest(make_export(tmp_path / "export", dev_rows=rows))
    dev = load_dev_set(manifest, limit=8)
    assert dev.examples == 8 and dev.total == 40 and "stratified" in dev.sampling
    assert Counter(dev.labels.tolist()) == {0: 6, 1: 2}
    whole = load_dev_set(manifest)
    assert whole.examples == whole.total == 40 and whole.sampling is None


def test_the_table_and_pick_say_a_metric_is_from_a_sample(tmp_path, capsys):
    rows = [(f"bad film {i}", "negative") for i in range(30)] + [(f"good film {i}", "positive") for i in range(10)]
    export = make_export(tmp_path / "export", dev_rows=rows)
    out = tmp_path / "bench"
    results = harness.run(export, out, fast=True, seq_lens=(SEQ,), cpu_threads=(1,), runtimes=("onnxruntime-cpu",),
                          accuracy_limit=8, rss=False, deflate=False, jobs=1, progress=False, android="off")
    assert results["dev"] == {**results["dev"], "examples": 8, "total_examples": 40}
    assert "stratified" in results["dev"]["sampling"]
    assert "a SAMPLE of 8 of the 40 dev examples" in (out / "table.md").read_text()
    assert pick.main(["--results", str(out / "results.json")]) == 0
    assert "a sample of 8 of 40 dev examples" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- malformed JSON


MANIFEST_DEFECTS = {
    "artifacts not a list": ("'artifacts'", lambda m: m.update(artifacts={"a": 1})),
    "artifact not an object": ("artifact entry", lambda m: m["artifacts"].append("w1_d1/onnx")),
    "artifact without path": ("'path'", lambda m: m["artifacts"][0].pop("path")),
    "width as text": ("'width_mult'", lambda m: m["artifacts"][0].update(width_mult="1.0")),
    "width as bool": ("'width_mult'", lambda m: m["artifacts"][0].update(width_mult=True)),
    "width out of range": ("'width_mult'", lambda m: m["artifacts"][0].update(width_mult=2.0)),
    "bytes as text": ("'bytes'", lambda m: m["artifacts"][0].update(bytes="many")),
    "sha256 as a number": ("'sha256'", lambda m: m["artifacts"][0].update(sha256=123)),
    "no sha256": ("'sha256'", lambda m: m["artifacts"][0].update(sha256="")),
    "inputs malformed": ("'inputs[0]'", lambda m: m["artifacts"][0].update(inputs=[3])),
    "max_length as text": ("'max_length'", lambda m: m.update(max_length="128")),
    "label names not strings": ("'label_names'", lambda m: m.update(label_names=[0, 1])),
    "num_labels disagrees": ("'num_labels'", lambda m: m.update(num_labels=3)),
    "tokenizer not an object": ("'tokenizer'", lambda m: m.update(tokenizer="tokenizer")),
    "tokenizer dir a number": ("'dir'", lambda m: m["tokenizer"].update(dir=7)),
    "pad id as text": ("'pad_token_id'", lambda m: m["tokenizer"].update(pad_token_id="0")),
    "subnet without name": ("'name'", lambda m: m["subnets"][0].pop("name")),
    "verification not an object": ("'verification'", lambda m: m.update(verification=[])),
    "task missing": ("'task'", lambda m: m.pop("task")),
    "schema version": ("schema_version 2", lambda m: m.update(schema_version=2)),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_DEFECTS))
def test_malformed_manifest_names_the_field(case, export, tmp_path, capsys):
    field, change = MANIFEST_DEFECTS[case]
    _edit(export, change)
    assert _bench("--manifest", str(export), "--out", str(tmp_path / "b")) == 2
    _one_line_error(capsys, str(export), field)


def test_tokenizer_folder_without_a_tokenizer(export, tmp_path, capsys):
    for f in (export.parent / "tokenizer").iterdir():
        if f.name != "vocab.txt":
            f.unlink()
    (export.parent / "tokenizer" / "tokenizer_config.json").write_text('{"tokenizer_class": 3}')
    out = tmp_path / "bench"
    assert _bench("--manifest", str(export), "--out", str(out)) == 2
    _one_line_error(capsys, str(export), "'tokenizer.dir'", "no loadable tokenizer")
    assert not out.exists()


def test_manifest_nan_and_top_level_list(export, tmp_path, capsys):
    export.write_text(export.read_text().replace('"depth_mult": 1.0, "format"', '"depth_mult": NaN, "format"', 1)
                      .replace('"depth_mult": 1.0,\n      "format"', '"depth_mult": NaN,\n      "format"', 1))
    assert "NaN" in export.read_text()
    assert _bench("--manifest", str(export), "--out", str(tmp_path / "b")) == 2
    _one_line_error(capsys, "'depth_mult'")
    export.write_text("[1, 2]")
    assert _bench("--manifest", str(export), "--out", str(tmp_path / "b")) == 2
    _one_line_error(capsys, "not a valid manifest")


RESULTS_DEFECTS = {
    "rows not a list": ("'rows'", lambda r: r.update(rows={})),
    "row not an object": ("rows[0]", lambda r: r["rows"].__setitem__(0, [1])),
    "row without seq_len": ("rows[0]: missing field 'seq_len'", lambda r: r["rows"][0].pop("seq_len")),
    "threads as text": ("'threads'", lambda r: r["rows"][0].update(threads="1")),
    "p50 negative": ("'p50_ms'", lambda r: r["rows"][0].update(p50_ms=-1.0)),
    "p50 missing in an ok row": ("'p50_ms'", lambda r: r["rows"][0].pop("p50_ms")),
    "artifacts missing": ("'artifacts'", lambda r: r.pop("artifacts")),
    "metric as text": ("artifacts[0]: 'metric'", lambda r: r["artifacts"][0].update(metric="high")),
    "bytes negative": ("'bytes'", lambda r: r["artifacts"][0].update(bytes=-5)),
    "format missing": ("'format'", lambda r: r["artifacts"][0].pop("format")),
    "input names not strings": ("'input_names'", lambda r: r["artifacts"][0].update(input_names=[1])),
    "manifest missing": ("'manifest'", lambda r: r.pop("manifest")),
    "dev not an object": ("'dev'", lambda r: r.update(dev="all")),
    "newer schema": ("re-run device_bench", lambda r: r.update(schema="dynabert-edge/device-bench/v2")),
    "not results at all": ("not a device_bench results.json", lambda r: r.update(schema="something/else")),
}


@pytest.mark.parametrize("case", sorted(RESULTS_DEFECTS))
def test_malformed_results_names_the_field(case, export, tmp_path, capsys):
    field, change = RESULTS_DEFECTS[case]
    results = _edit(make_results(export, tmp_path / "bench"), change)
    assert pick.main(["--results", str(results), "--max-mb", "100"]) == 2
    _one_line_error(capsys, str(results), field)


def test_results_file_missing_or_a_folder(tmp_path, capsys):
    assert pick.main(["--results", str(tmp_path / "nope.json")]) == 2
    _one_line_error(capsys, "nope.json", "cannot read results")
    assert pick.main(["--results", str(tmp_path)]) == 2
    _one_line_error(capsys, str(tmp_path), "cannot read results")


def test_results_with_nan_is_refused(export, tmp_path, capsys):
    results = make_results(export, tmp_path / "bench")
    results.write_text(results.read_text().replace('"p50_ms": 1.5', '"p50_ms": NaN'))
    assert pick.main(["--results", str(results)]) == 2
    _one_line_error(capsys, "'p50_ms'")


# ---------------------------------------------------------------------------------------------- output folder, Ctrl-C


def test_output_folder_problems_are_one_line(export, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert _bench("--manifest", str(export), "--out", str(a_file)) == 2
    _one_line_error(capsys, str(a_file), "not a folder", "--out")
    assert a_file.read_text() == "x"
    assert _bench("--manifest", str(export), "--out", str(a_file / "bench")) == 2
    _one_line_error(capsys, "part of its path is a file", "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(export, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert _bench("--manifest", str(export), "--out", str(out)) == 2
        _one_line_error(capsys, "not writable", "--out")
    finally:
        out.chmod(0o755)


def test_unwritable_output_folder_even_as_root(export, tmp_path, monkeypatch, capsys):
    # The skipped test above needs a non-root user; this one plants the refusal the kernel would give.
    import tempfile

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert _bench("--manifest", str(export), "--out", str(tmp_path / "ro")) == 2
    _one_line_error(capsys, "not writable: Permission denied", "--out")


def test_pick_unwritable_assets_even_as_root(export, demo, tmp_path, monkeypatch, capsys):
    import tempfile

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    results = make_results(export, tmp_path / "bench")
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert _pick_install(results, demo) == 2
    _one_line_error(capsys, "Permission denied", "nothing installed")
    assert _installed(demo) == []


def test_a_late_disk_error_is_one_line(export, tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "bench" / "results.json"))

    monkeypatch.setattr(harness, "run", full_disk)
    assert _bench("--manifest", str(export)) == 2
    _one_line_error(capsys, "results.json", "No space left on device")


def test_ctrl_c_says_how_to_rerun(export, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "run", interrupted)
    assert _bench("--manifest", str(export), "--jobs", "2") == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"Re-run with: python -m device_bench --manifest {export} --jobs 2" in err
    assert "Traceback" not in err

    results = make_results(export, tmp_path / "bench")
    monkeypatch.setattr(pick, "install", interrupted)
    demo = tmp_path / "demo"
    assert pick.main(["--results", str(results), "--install-into", str(demo)]) == 130
    err = capsys.readouterr().err
    assert "nothing was half-installed" in err and f"python -m device_bench.pick --results {results}" in err


def test_help_explains(capsys):
    assert pick.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--max-latency-ms" in text and "--install-into" in text
    assert bench_cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--accuracy-limit" in text and "stratified" in text


def test_pick_refuses_what_the_apps_onnx_runtime_cannot_load(export, demo, tmp_path, capsys, monkeypatch):
    """The app ships ONNX Runtime 1.29.0: a file it cannot open is refused at pick time, nothing installed."""
    from device_bench import app_runtime

    if not app_runtime.available():
        pytest.skip(f"ONNX Runtime {app_runtime.APP_ORT_VERSION} not cached: bash android_demo/ci/install_toolchain.sh")
    good = export.parent / "w1_d1" / "model.onnx"
    assert app_runtime.load_error([good]) is None
    import onnx

    model = onnx.load(str(good))
    model.opset_import[0].version = 99  # an opset no released runtime knows
    bad = tmp_path / "future.onnx"
    onnx.save(model, str(bad))
    error = app_runtime.load_error([good, bad])
    assert error is not None and "1.29.0" in error and "future.onnx" in error and "\n" not in error
    # pick asks the same question of the copy it is about to install
    monkeypatch.setattr(app_runtime, "load_error", lambda paths: f"ONNX Runtime 1.29.0 (the app's) cannot load "
                                                                 f"{paths[0].name}: opset 99")
    results = make_results(export, tmp_path / "bench")
    assert _pick_install(results, demo) == 2
    assert "cannot load model.onnx: opset 99; nothing installed" in _one_line_error(capsys, "1.29.0")
    assert not (demo / "app/src/main/assets/models/w1_d1_onnx").exists()


def test_pick_min_metric_follows_the_range_of_the_tasks_metric(export, tmp_path, capsys):
    """Matthews and Pearson correlations can be negative (a CoLA model at -0.05 is a real, bad model): there a
    negative --min-metric is a bound; for accuracy it is a typo, refused in one line."""
    results = make_results(export, tmp_path / "bench")
    data = json.loads(results.read_text())
    data["metric_name"], data["artifacts"][0]["metric"] = "mcc", -0.05
    results.write_text(json.dumps(data))
    assert pick.main(["--results", str(results), "--min-metric", "-0.1"]) == 0
    assert "mcc -5.00" in capsys.readouterr().out  # shown ×100, as every metric
    assert pick.main(["--results", str(results), "--min-metric", "0.1"]) == 1  # above the only candidate: none
    capsys.readouterr()
    assert pick.main(["--results", str(results), "--min-metric", "-1.5"]) == 2
    _one_line_error(capsys, "--min-metric", "'-1.5'")

"""export.all and the checkpoint it reads, given bad input (issue #11): every case is one line, exit 2,
nothing written, never a silent success.

The classes walked here: tensors missing from or added to a checkpoint; ``dynabert.json`` of the wrong
shape or types; paths in checkpoint metadata or a previous manifest that leave their folder; missing or
redirected tokenizer files; empty or invalid option values; an output folder that cannot be written;
Ctrl-C mid-export; pickled weights. Almost every case fails before anything is exported, so each test
takes seconds; the one real export (the Ctrl-C test) is one narrow sub-model in ONNX.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import GLUE_DIR, REPO
from safetensors.torch import load_file, save_file
from test_export import _cli, _one_line_error, _tiny_checkpoint

from dynabert.backbone import BackboneError, WeightsError, default_backbone_dir, load_classifier
from dynabert.checkpoint import CheckpointError, load_checkpoint, read_meta
from dynabert.fileio import inside, resolve_inside, sha256_path
from export import all as export_all
from export import manifest as M
from export.formats import ExportError
from export.inputs import resolve_data
from export.wrapper import load_eager

pytestmark = pytest.mark.skipif(not GLUE_DIR.is_dir(), reason=f"real GLUE data not found at {GLUE_DIR}")

NARROW = ["--widths", "0.25", "--depths", "0.5", "--formats", "onnx", "--no-bench", "--no-progress"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture
def copy(ckpt, tmp_path):
    """A private copy of the checkpoint, to damage."""
    def make(name: str = "ckpt") -> Path:
        return Path(shutil.copytree(ckpt, tmp_path / name))
    return make


def _edit_tensors(path: Path, edit) -> None:
    weights = path / "model.safetensors"
    tensors = load_file(weights)
    edit(tensors)
    save_file(tensors, weights, metadata={"format": "pt"})


def _edit_meta(path: Path, edit) -> Path:
    record = json.loads((path / "dynabert.json").read_text())
    record = edit(record)
    (path / "dynabert.json").write_text(json.dumps(record))
    return path / "dynabert.json"


def _refused(capsys, ckpt: Path, out: Path, match: str, *extra: str) -> None:
    """export.all exits 2 with one line containing ``match``, and writes nothing under ``out``."""
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(out), *NARROW, *extra], match)
    assert not out.exists(), "an output folder was left behind"


# ---------------------------------------------------------------------------------------------- tensors


@pytest.mark.parametrize("edit, named", [
    (lambda t: t.pop("classifier.weight"), "missing tensor(s) classifier.weight"),
    (lambda t: [t.pop(k) for k in ("classifier.weight", "classifier.bias")], "classifier.bias, classifier.weight"),
    (lambda t: t.pop("bert.encoder.layer.2.attention.self.query.weight"),
     "missing tensor(s) bert.encoder.layer.2.attention.self.query.weight"),
    (lambda t: t.update({"bert.encoder.layer.9.output.dense.weight": torch.zeros(2, 2)}),
     "unexpected tensor(s) bert.encoder.layer.9.output.dense.weight"),
])
def test_missing_or_extra_tensors_are_refused_by_name(copy, tmp_path, capsys, edit, named):
    path = copy()
    _edit_tensors(path, edit)
    with pytest.raises(CheckpointError, match=named.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(path)
    _refused(capsys, path, tmp_path / "out", named)


def test_a_tensor_of_the_wrong_shape_is_refused(copy, tmp_path, capsys):
    path = copy()
    _edit_tensors(path, lambda t: t.update({"classifier.weight": torch.zeros(3, 48)}))
    _refused(capsys, path, tmp_path / "out", "size mismatch")


@pytest.mark.parametrize("config, match", [
    (None, "missing config.json"), ("[]", "must be a JSON object"), ("{oops", "corrupt model config"),
    ('{"model_type": "distilbert"}', "model_type 'distilbert' is not supported"),
])
def test_a_bad_model_config_is_one_line(copy, tmp_path, capsys, config, match):
    path = copy()
    if config is None:
        (path / "config.json").unlink()
    else:
        (path / "config.json").write_text(config)
    _refused(capsys, path, tmp_path / "out", match)


def test_a_config_that_disagrees_with_the_weights_is_refused(copy, tmp_path, capsys):
    path = copy()
    config = json.loads((path / "config.json").read_text())
    config["num_hidden_layers"] = 3  # the weights have 4 layers
    (path / "config.json").write_text(json.dumps(config))
    _refused(capsys, path, tmp_path / "out", "unexpected tensor(s) bert.encoder.layer.3.")


def test_exported_hf_folder_is_reloaded_strictly(ckpt, tmp_path):
    """hf/ is what every other format is made from: a tensor missing there must not become random weights."""
    from transformers import AutoModelForSequenceClassification

    hf = tmp_path / "hf"
    AutoModelForSequenceClassification.from_pretrained(ckpt).save_pretrained(hf)
    load_eager(hf)  # complete: loads
    _edit_tensors(hf, lambda t: t.pop("bert.pooler.dense.weight"))
    with pytest.raises(WeightsError, match="bert.pooler.dense.weight"):
        load_eager(hf)
    with pytest.raises(WeightsError, match="bert.pooler.dense.weight"):
        export_all._reload_stock(hf)


def test_backbone_may_miss_only_a_new_head(tmp_path):
    # The packaged MiniLM has no classification head: a new task gets a fresh one, as before.
    model, _ = load_classifier("minilm", label_names=["a", "b"])
    assert model.config.num_labels == 2
    backbone = Path(shutil.copytree(default_backbone_dir(), tmp_path / "minilm"))
    _edit_tensors(backbone, lambda t: t.pop(next(k for k in t if k.endswith("layer.3.attention.self.query.weight"))))
    with pytest.raises(BackboneError, match=r"missing tensor\(s\) .*layer\.3\.attention\.self\.query\.weight"):
        load_classifier(backbone, label_names=["a", "b"])
    # A fine-tuned classifier loaded as itself (no new labels) must bring its head.
    with pytest.raises(BackboneError, match=r"missing tensor\(s\) classifier\.bias, classifier\.weight"):
        load_classifier(default_backbone_dir())


# ---------------------------------------------------------------------------------------------- metadata


def _set(key, value):
    def edit(record):
        record[key] = value
        return record
    return edit


def _drop(key):
    def edit(record):
        record.pop(key)
        return record
    return edit


@pytest.mark.parametrize("edit, field", [
    (lambda r: [r], "not an object"),
    (_set("width_mults", "1,0.25"), "'width_mults'"),
    (_set("width_mults", []), "'width_mults'"),
    (_set("width_mults", [1.0, 1.5]), "'width_mults'"),
    (_set("width_mults", [1.0, math.nan]), "'width_mults'"),
    (_set("width_mults", [1.0, True]), "'width_mults'"),
    (_set("depth_mults", [0.5, 0.5]), "'depth_mults'"),
    (_set("depth_mults", [0.5, 0.5000001]), "'depth_mults'"),  # one folder name, w1_d0.5, for both
    (_set("depth_mults", None), "'depth_mults'"),
    (_set("label_names", 2), "'label_names'"),
    (_set("label_names", ["positive"]), "'label_names'"),
    (_set("label_names", ["a", 3]), "'label_names'"),
    (_set("rewired", "yes"), "'rewired'"),
    (_set("max_length", "64"), "'max_length'"),
    (_set("max_length", 0), "'max_length'"),
    (_set("max_length", 64.5), "'max_length'"),
    (_set("stage", "pretrained"), "'stage'"),
    (_set("task", ""), "'task'"),
    (_set("extra", ["data_dir"]), "'extra'"),
    (_set("backbone", None), "'backbone'"),
    (_drop("task"), "'task' is missing"),
    (_set("surprise", 1), "unknown field 'surprise'"),
])
def test_metadata_of_the_wrong_shape_names_field_and_file(copy, tmp_path, capsys, edit, field):
    path = copy()
    meta_file = _edit_meta(path, edit)
    with pytest.raises(CheckpointError, match=f"^{meta_file}: .*{field}") as info:
        read_meta(path)
    assert "\n" not in str(info.value)
    _refused(capsys, path, tmp_path / "out", field)


def test_label_names_must_match_the_models_outputs(copy, tmp_path, capsys):
    path = copy()
    _edit_meta(path, _set("label_names", ["negative", "neutral", "positive"]))
    _refused(capsys, path, tmp_path / "out", "3 labels")
    _edit_meta(path, _set("label_names", None))  # regression: one output, the model has two
    _refused(capsys, path, tmp_path / "out", "regression")


@pytest.mark.parametrize("extra, match", [
    ({"data_dir": "../../../../etc"}, "points outside"),
    ({"data_dir": 5}, "extra.data_dir must be a path"),
    ({"data": ["glue"]}, "extra.data must be an object"),
    ({"data": {"format": "custom", "dev_file": "../dev.csv"}}, "points outside"),
    ({"data": {"format": "custom", "dev_file": "/dev/zero"}}, "not a regular file"),
    ({"data": {"format": "glue", "data_dir": "sub/../../x"}}, "points outside"),
])
def test_data_paths_in_metadata_stay_in_their_folder(copy, tmp_path, capsys, extra, match):
    path = copy()
    meta_file = _edit_meta(path, _set("extra", extra))
    _refused(capsys, path, tmp_path / "out", match)
    with pytest.raises(ExportError, match=str(meta_file)):
        resolve_data(None, "sst2", ["negative", "positive"], extra, ckpt=path)


def test_a_relative_data_path_is_the_checkpoints_own(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dev.csv").write_text("text,label\ngood,positive\n")
    source = resolve_data(None, "mytask", ["negative", "positive"],
                          {"data": {"format": "custom", "dev_file": "data/dev.csv"}}, ckpt=tmp_path)
    assert source.files["dev"] == (tmp_path / "data" / "dev.csv").resolve()


def test_fileio_inside_refuses_escapes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "link").symlink_to("/etc")
    assert inside(tmp_path / "a", tmp_path / "a" / "x" / ".." / "y")
    assert not inside(tmp_path / "a", tmp_path / "a" / ".." / "b")
    assert not inside(tmp_path / "a", tmp_path / "a" / "link" / "passwd")
    for bad in ("/etc/passwd", "../b", "link/passwd", "", None):
        with pytest.raises(ValueError, match="what"):
            resolve_inside(tmp_path / "a", bad, "what")
    assert resolve_inside(tmp_path / "a", "x/y", "what") == (tmp_path / "a" / "x" / "y").resolve()


# ---------------------------------------------------------------------------------------------- tokenizer


def test_missing_tokenizer_files_are_named(copy, tmp_path, capsys):
    path = copy()
    for name in ("tokenizer.json", "vocab.txt"):
        (path / name).unlink()
    with pytest.raises(CheckpointError, match="no tokenizer files"):
        load_checkpoint(path)
    _refused(capsys, path, tmp_path / "out", "no tokenizer files")


@pytest.mark.parametrize("key, value", [("vocab_file", "/etc/hostname"), ("tokenizer_file", "../tokenizer.json"),
                                        ("vocab_file", 7)])
def test_tokenizer_config_cannot_name_files_outside_the_checkpoint(copy, tmp_path, capsys, key, value):
    path = copy()
    config = json.loads((path / "tokenizer_config.json").read_text())
    config[key] = value
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    _refused(capsys, path, tmp_path / "out", f"field '{key}'")


def test_corrupt_tokenizer_config_is_one_line(copy, tmp_path, capsys):
    path = copy()
    (path / "tokenizer_config.json").write_text("[1, 2")
    _refused(capsys, path, tmp_path / "out", "corrupt tokenizer config")


# ---------------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("option, value, match", [
    ("--widths", ",", "--widths"), ("--widths", "", "--widths"), ("--widths", "0", "not in (0, 1]"),
    ("--widths", "1.5", "not in (0, 1]"), ("--widths", "nan", "not in (0, 1]"), ("--widths", "inf", "not in (0, 1]"),
    ("--widths", "-0.25", "not in (0, 1]"), ("--widths", "0.25,0.25", "given twice"),
    ("--widths", "0.25,x", "not a number"), ("--depths", ",", "--depths"), ("--depths", "nan", "not in (0, 1]"),
    ("--depths", "0.5,0.50", "given twice"), ("--formats", ",", "--formats"),
    ("--jobs", "0", "--jobs: must be >= 1"), ("--jobs", "-2", "--jobs"), ("--jobs", "1.5", "whole number"),
    ("--n-verify", "0", "--n-verify"), ("--n-verify-int8", "0", "--n-verify-int8"),
    ("--n-calib", "0", "--n-calib"), ("--max-length", "0", "--max-length"), ("--max-length", "nan", "--max-length"),
    ("--max-length", "129", "--max-length must be between 1 and 128"), ("--out", "", "--out"),
    ("--data-dir", "", "--data-dir"), ("--data-dir", " ", "--data-dir"),
])
def test_invalid_option_values_are_one_line_and_write_nothing(ckpt, tmp_path, capsys, option, value, match):
    out = tmp_path / "out"
    argv = ["--ckpt", str(ckpt), "--out", str(out), *NARROW]
    if option == "--out":
        argv = ["--ckpt", str(ckpt), *NARROW]
    _one_line_error(capsys, [*argv, option, value], match)
    assert not out.exists() and not (REPO / "out" / "export" / ckpt.name).exists()


def test_empty_selection_never_writes_a_complete_manifest(ckpt, tmp_path):
    proc = _cli("--ckpt", str(ckpt), "--out", str(tmp_path / "out"), *NARROW[4:], "--widths", ",")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_an_os_error_mid_run_is_one_line_with_the_resume_hint(ckpt, tmp_path, capsys, monkeypatch):
    def disk_full(*_):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "manifest.json"))

    monkeypatch.setattr(export_all, "_prepare", disk_full)
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(tmp_path / "out"), *NARROW],
                    "manifest.json: No space left on device; fix that and run the same command again to resume")


def test_help_explains_and_exits_0(capsys):
    assert export_all.main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--widths", "--depths", "--formats", "--jobs", "--max-length", "--n-verify-int8", "--out"):
        assert option in text


# ---------------------------------------------------------------------------------------------- output folder


def test_output_that_is_a_file_or_under_a_file(ckpt, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(blocker), *NARROW], "is a file")
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(blocker / "a" / "b"), *NARROW],
                    f"lies under {blocker}, which is a file")
    assert blocker.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_output_whose_parts_are_the_wrong_kind(ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "w0.25_d0.5").write_text("not a folder")
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(out), *NARROW], "w0.25_d0.5 is a file")
    (out / "w0.25_d0.5").unlink()
    (out / "manifest.json").mkdir()
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(out), *NARROW], "manifest.json is not a file")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


def test_output_inside_the_checkpoint_is_refused(ckpt, capsys):
    before = sorted(p.name for p in ckpt.iterdir())
    for out in (ckpt, ckpt / "export"):
        _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(out), *NARROW], "is inside the checkpoint")
    assert sorted(p.name for p in ckpt.iterdir()) == before


def test_stale_temps_are_removed_only_where_export_writes(tmp_path):
    (tmp_path / "w0.25_d0.5" / ".scratch.abc.tmp").mkdir(parents=True)
    (tmp_path / ".manifest.json.x.tmp").write_text("half")
    (tmp_path / ".vim.swp.tmp").write_text("someone else's")  # --out may be a folder with other files
    (tmp_path / "notes" / ".draft.tmp").parent.mkdir()
    (tmp_path / "notes" / ".draft.tmp").write_text("someone else's")
    export_all._remove_temps(tmp_path)
    assert not (tmp_path / "w0.25_d0.5" / ".scratch.abc.tmp").exists()
    assert not (tmp_path / ".manifest.json.x.tmp").exists()
    assert (tmp_path / "notes" / ".draft.tmp").exists() and (tmp_path / ".vim.swp.tmp").exists()


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write into: mode bits for a normal user; a read-only mount for root (whom mode
    bits do not stop)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("running as root and cannot mount a read-only filesystem")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_read_only_output_folder(ckpt, read_only_dir, capsys):
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(read_only_dir / "out"), *NARROW],
                    f"cannot write in {read_only_dir}")
    _one_line_error(capsys, ["--ckpt", str(ckpt), "--out", str(read_only_dir), *NARROW], "cannot write")
    assert not list(read_only_dir.iterdir())


def test_ctrl_c_mid_export_prints_the_resume_hint_and_leaves_nothing_partial(ckpt, tmp_path):
    out = tmp_path / "out"
    args = ["--ckpt", str(ckpt), "--out", str(out), *NARROW[:4], "--formats", "onnx,onnx-int8",
            "--n-verify", "16", "--n-verify-int8", "32", "--no-bench", "--no-progress", "--jobs", "2"]
    # A session of its own, so that the SIGINT goes to the whole group, as a terminal's Ctrl-C does.
    proc = subprocess.Popen([sys.executable, "-m", "export.all", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    subnet = out / "w0.25_d0.5"
    try:
        # A worker's scratch folder exists: it is mid-chain, with half-made files under temporary names.
        while time.monotonic() < deadline and proc.poll() is None and not any(subnet.glob(".scratch.*.tmp")):
            time.sleep(0.02)
        assert proc.poll() is None, "the export finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130, err
    assert lines == ["export.all: interrupted; run the same command again to resume"], err
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    listed = json.loads((out / "manifest.json").read_text())["artifacts"]
    listed_paths = {a["path"] for a in listed}
    for art in listed:
        assert sha256_path(out / art["path"]) == art["sha256"]
    # Every artifact on disk is one the manifest vouches for: nothing half-made sits under a final name.
    on_disk = {f"w0.25_d0.5/{p.name}" for p in subnet.iterdir() if not p.name.endswith(".config")}
    # The loader files beside model.onnx (config + tokenizer, for optimum) are byte copies of the listed hf/
    # folder's files; anything else must be listed itself.
    loader = {p for p in on_disk - listed_paths if "w0.25_d0.5/hf" in listed_paths
              and (subnet / "hf" / Path(p).name).is_file()
              and (subnet / "hf" / Path(p).name).read_bytes() == (out / p).read_bytes()}
    assert on_disk - loader <= listed_paths, on_disk - loader - listed_paths

    rerun = _cli(*args[:-2], "--jobs", "1")  # the worker count is no input of any artifact: a plain resume
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and {a["id"] for a in manifest["artifacts"]} == {
        "w0.25_d0.5/hf", "w0.25_d0.5/onnx", "w0.25_d0.5/onnx-int8"}
    first = next(a for a in listed if a["id"] == "w0.25_d0.5/hf")
    again = next(a for a in manifest["artifacts"] if a["id"] == "w0.25_d0.5/hf")
    assert again["export_seconds"] == first["export_seconds"]  # resumed, not redone


def test_workers_leave_ctrl_c_to_the_main_process_which_stops_them():
    from export.workers import make_pool, stop_pool

    pool = make_pool(1, 1)
    try:
        pid = pool.submit(os.getpid).result(timeout=120)
        os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to every process of the group
        time.sleep(0.5)
        assert pool.submit(os.getpid).result(timeout=60) == pid, "the worker died of Ctrl-C"
        processes = list(pool._processes.values())
        stop_pool(pool)
        assert processes and not any(p.is_alive() for p in processes)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_previous_manifest_paths_that_leave_the_folder_are_never_trusted(tmp_path):
    good = {"id": "w1_d1/onnx", "subnet": "w1_d1", "format": "onnx", "path": "w1_d1/model.onnx",
            "status": "passed", "sha256": "0" * 64}
    evil = [
        {**good, "path": "../../../../etc/passwd"},
        {**good, "path": "/etc/passwd"},
        {**good, "id": "../x/onnx", "subnet": "../x", "path": "../x/model.onnx"},
        {**good, "format": "exe"},
        {**good, "sha256": 5},
        "not a record",
    ]
    path = tmp_path / M.MANIFEST_NAME
    path.write_text(json.dumps({"schema_version": M.SCHEMA_VERSION, "artifacts": [good, *evil], "subnets": 3}))
    loaded = M.load(path)
    assert loaded["artifacts"] == [good] and loaded["subnets"] == []
    subnets = [{"name": "w1_d1", "dir": "w1_d1"}, {"name": "w1_d1", "dir": "../../etc"}, {"name": "..", "dir": ".."},
               {"name": None}]
    path.write_text(json.dumps({"schema_version": M.SCHEMA_VERSION, "artifacts": [], "subnets": subnets}))
    assert M.load(path)["subnets"] == subnets[:1]
    assert list(M.artifacts_by_id(loaded)) == ["w1_d1/onnx"]


# ---------------------------------------------------------------------------------------------- pickle


class _Payload:
    """Unpickling this runs ``touch <marker>``: the attack of issue #11's first example."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_weights_are_never_loaded(copy, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    path = copy()
    torch.save({"bert.embeddings.word_embeddings.weight": _Payload(marker)}, path / "pytorch_model.bin")
    load_checkpoint(path)  # safetensors wins; the .bin is not even opened
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_checkpoint(path)
    _refused(capsys, path, tmp_path / "out", "missing model.safetensors")
    # A backbone directory with only a pickle: refused (weights_only), never run.
    backbone = tmp_path / "backbone"
    backbone.mkdir()
    shutil.copy(path / "config.json", backbone)
    shutil.copy(path / "pytorch_model.bin", backbone)
    with pytest.raises(BackboneError):
        load_classifier(backbone)
    with pytest.raises((OSError, ValueError, RuntimeError)):
        load_eager(backbone)
    assert not marker.exists(), "the pickle payload ran"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node


def _keyword(node: ast.Call, name: str):
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expr>"
    return None


def test_no_pickle_anywhere_in_export_or_dynabert():
    problems = []
    for path in sorted([*(REPO / "export").rglob("*.py"), *(REPO / "dynabert").rglob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(REPO)
        # The one place a model is loaded with transformers' own call is the strict loader that checks it.
        strict = {node for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "load_classifier_weights"
                  for node in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "cloudpickle") for m in modules):
                    problems.append(f"{where}:{node.lineno}: imports a pickle module")
        for name, node in _calls(tree):
            owner = getattr(getattr(node.func, "value", None), "id", "")
            if name == "load" and owner == "torch" and _keyword(node, "weights_only") is not True:
                problems.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
            if name == "load" and owner in ("np", "numpy") and _keyword(node, "allow_pickle") not in (None, False):
                problems.append(f"{where}:{node.lineno}: np.load with allow_pickle")
            if _keyword(node, "trust_remote_code") not in (None, False):
                problems.append(f"{where}:{node.lineno}: trust_remote_code")
            if name == "from_pretrained" and "ModelFor" in ast.unparse(node.func) and node not in strict:
                problems.append(f"{where}:{node.lineno}: a model from_pretrained outside the strict loader "
                                "(dynabert.backbone.load_classifier_weights)")
    assert not problems, "\n".join(problems)


def test_a_relative_data_dir_is_recorded_absolute(tmp_path, monkeypatch):
    """The manifest records where the dev data is, and device_bench reads it from wherever it runs: a relative
    --data-dir (as in the README: ../shared/data/glue) must not be written as given."""
    from export.inputs import resolve_data

    (tmp_path / "data" / "glue").mkdir(parents=True)
    (tmp_path / "data" / "mytask").mkdir()
    (tmp_path / "data" / "mytask" / "dev.csv").write_text("text,label\na,x\n")
    monkeypatch.chdir(tmp_path / "data")
    glue = resolve_data("glue", "sst2", ["negative", "positive"], {})
    assert glue.glue_dir == tmp_path / "data" / "glue" and glue.glue_dir.is_absolute()
    custom = resolve_data("mytask", "mytask", ["x", "y"], {})
    assert custom.files["dev"].is_absolute() and custom.files["dev"] == tmp_path / "data" / "mytask" / "dev.csv"

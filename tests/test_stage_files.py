"""The typed stage files (dynabert.files): each reader's one-line errors name the file and the field; each
writer refuses to write what its reader would refuse; the data source survives the checkpoint round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_cli_device_bench import make_export, make_results

from dynabert.files.checkpoint_meta import META_FILE, CheckpointError, CheckpointMeta, read_meta, write_meta
from dynabert.files.fields import StageFileError
from dynabert.files.manifest import read_manifest, write_manifest
from dynabert.files.results import read_results, write_results


def _one_line(info, *needles: str) -> str:
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def _edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------------------------- manifest

MANIFEST_DEFECTS = {
    "wrong type": ("'task' should be a string", lambda m: m.update(task=3)),
    "missing field": ("missing field 'artifacts'", lambda m: m.pop("artifacts")),
    "wrong version": ("schema_version 2", lambda m: m.update(schema_version=2)),
    "version as true": ("schema_version true", lambda m: m.update(schema_version=True)),
    "artifact field wrong type": ("artifact w1_d1/onnx: 'bytes' should be an integer",
                                  lambda m: m["artifacts"][0].update(bytes="12")),
    "artifact field missing": ("artifact w1_d1/onnx: missing field 'runtime'",
                               lambda m: m["artifacts"][0].pop("runtime")),
    "session settings not an object": ("'session_settings' should be an object",
                                       lambda m: m["artifacts"][0].update(session_settings=["x"])),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_DEFECTS))
def test_manifest_reader_names_file_and_field(case, tmp_path):
    needle, change = MANIFEST_DEFECTS[case]
    path = _edit(make_export(tmp_path / "export"), change)
    with pytest.raises(StageFileError) as info:
        read_manifest(path)
    _one_line(info, str(path), needle)


def test_manifest_round_trip_and_session_settings(tmp_path):
    path = make_export(tmp_path / "export")
    data = json.loads(path.read_text())
    data["artifacts"][0]["session_settings"] = {"disabled_optimizers": ["MatMulNBitsFusion"]}
    write_manifest(path, data)
    typed = read_manifest(path.parent)  # the folder names its manifest
    assert typed.task == "toy" and [a.id for a in typed.artifacts] == ["w1_d1/onnx"]
    assert typed.artifacts[0].session_settings == {"disabled_optimizers": ["MatMulNBitsFusion"]}
    assert json.loads(path.read_text())["summary"] == {"total": 1, "passed": 1, "unverified": 0, "failed": 0}


def test_manifest_writer_refuses_what_the_reader_refuses(tmp_path):
    path = make_export(tmp_path / "export")
    before = path.read_text()
    data = json.loads(before)
    data["artifacts"][0]["width_mult"] = 2.0
    with pytest.raises(StageFileError) as info:
        write_manifest(path, data)
    _one_line(info, "'width_mult' should be in (0, 1]")
    assert path.read_text() == before  # nothing half-written, nothing wrong written


# ---------------------------------------------------------------------------------------------- results

RESULTS_DEFECTS = {
    "wrong type": ("rows[0]: 'threads' should be an integer", lambda r: r["rows"][0].update(threads="1")),
    "missing field": ("missing field 'manifest'", lambda r: r.pop("manifest")),
    "wrong version": ("re-run device_bench", lambda r: r.update(schema="dynabert-edge/device-bench/v2")),
}


@pytest.mark.parametrize("case", sorted(RESULTS_DEFECTS))
def test_results_reader_names_file_and_field(case, tmp_path):
    needle, change = RESULTS_DEFECTS[case]
    path = _edit(make_results(make_export(tmp_path / "export"), tmp_path / "bench"), change)
    with pytest.raises(StageFileError) as info:
        read_results(path)
    _one_line(info, str(path), needle)


def test_results_writer_writes_strict_json_and_refuses_bad_rows(tmp_path):
    results = json.loads(make_results(make_export(tmp_path / "export"), tmp_path / "bench").read_text())
    results["rows"][0]["p90_ms"] = math.nan
    out = tmp_path / "out" / "results.json"
    write_results(out, results)
    assert "NaN" not in out.read_text() and read_results(out)["rows"][0]["p90_ms"] is None
    results["rows"][0]["p50_ms"] = -1.0
    with pytest.raises(StageFileError, match="'p50_ms'"):
        write_results(tmp_path / "other.json", results)
    assert not (tmp_path / "other.json").exists()


# ---------------------------------------------------------------------------------------------- checkpoint metadata


def _meta_file(tmp_path: Path, **edits) -> Path:
    write_meta(tmp_path, CheckpointMeta(stage="width", task="sst2", label_names=["negative", "positive"],
                                        rewired=True))
    path = tmp_path / META_FILE
    record = json.loads(path.read_text())
    for key, value in edits.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("edits,needle", [
    ({"max_length": "64"}, "field 'max_length'"),  # wrong type
    ({"task": ...}, "field 'task' is missing"),  # missing field
    ({"version": 2}, "checkpoint version 2"),  # wrong version
])
def test_checkpoint_meta_reader_names_file_and_field(tmp_path, edits, needle):
    path = _meta_file(tmp_path, **edits)
    with pytest.raises(CheckpointError) as info:
        read_meta(tmp_path)
    assert isinstance(info.value, StageFileError)
    _one_line(info, str(path), needle)


def test_checkpoint_meta_writer_refuses_what_the_reader_refuses(tmp_path):
    bad = CheckpointMeta(stage="width", task="sst2", label_names=["only one"], rewired=True)
    with pytest.raises(CheckpointError, match="'label_names'"):
        write_meta(tmp_path, bad)
    assert not (tmp_path / META_FILE).exists()


# ---------------------------------------------------------------------------------------------- data source


def test_data_source_round_trips_through_the_checkpoint_and_old_ones_still_read(tmp_path):
    from dynabert.files.data_source import DataSource

    source = DataSource("mytask", "custom", data_dir=str(tmp_path), files={"dev": str(tmp_path / "dev.csv")},
                        text_columns=("text", "text_pair"), label_names=("no", "yes"), pair=True,
                        subset={"max_train_examples": 10, "max_dev_examples": None, "seed": 0})
    meta = CheckpointMeta(stage="width", task="mytask", label_names=["no", "yes"], rewired=True, data=source)
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path).data == source  # equal after JSON: training's resume compares them
    _meta_file(tmp_path, data=...)  # a checkpoint written before the data source was typed
    assert read_meta(tmp_path).data is None


@pytest.mark.parametrize("data,needle", [
    ({"task": "t", "kind": "hub", "data_dir": "/x"}, "'kind' should be one of glue, custom"),  # wrong value
    ({"task": "t", "kind": "glue", "data_dir": 5}, "'data_dir' should be a string"),  # wrong type
    ({"task": "t", "kind": "custom"}, "needs 'files.dev'"),  # missing field
    ({"kind": "glue", "data_dir": "/x", "label_names": ["a", "b"]}, "missing field 'task'"),
])
def test_data_source_reader_names_file_and_field(tmp_path, data, needle):
    path = _meta_file(tmp_path, data=data)
    with pytest.raises(CheckpointError) as info:
        read_meta(tmp_path)
    _one_line(info, str(path), "field 'data'", needle)


def test_manifest_data_source_paths_are_checked(tmp_path):
    path = make_export(tmp_path / "export")
    dev = tmp_path / "export-data" / "dev.csv"
    record = {"task": "toy", "kind": "custom", "data_dir": str(dev.parent), "files": {"dev": str(dev)},
              "label_names": ["negative", "positive"]}
    _edit(path, lambda m: m.update(data_source=record))
    assert read_manifest(path).data_source.files["dev"] == str(dev)
    _edit(path, lambda m: m["data_source"]["files"].update(dev="../../etc/passwd"))
    with pytest.raises(StageFileError) as info:
        read_manifest(path)
    _one_line(info, str(path), "'data_source.files.dev' refused")


def test_training_records_a_typed_source_that_export_resolves(tmp_path, glue_dir):
    """train.data writes the source (GLUE and custom), export reads it: relative paths are the checkpoint's own,
    and one that leaves the checkpoint is refused naming the field."""
    GLUE_DIR = glue_dir  # noqa: N806 (skipped, with the reason, where the real GLUE files are absent)
    from export.formats import ExportError
    from export.inputs import resolve_data
    from train.config import DataConfig
    from train.data import load_task_data

    glue = load_task_data(DataConfig(task="sst2", data_dir=str(GLUE_DIR), max_train_examples=8, max_dev_examples=4),
                          seed=0).source
    assert (glue.kind, glue.task, glue.data_dir, glue.pair) == ("glue", "sst2", str(GLUE_DIR.resolve()), False)
    assert glue.label_names == ("negative", "positive") and glue.subset["max_dev_examples"] == 4
    from dynabert.files.data_source import from_record

    assert from_record(json.loads(json.dumps(glue.to_record())), "x") == glue
    resolved = resolve_data(None, "sst2", ["negative", "positive"], {}, ckpt=tmp_path, recorded=glue)
    assert resolved.glue_dir == GLUE_DIR.resolve()

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dev.csv").write_text("text,text_pair,label\na,b,yes\nc,d,no\n")
    (tmp_path / "data" / "train.csv").write_text("text,text_pair,label\na,b,yes\nc,d,no\n")
    custom = load_task_data(DataConfig(task="custom", train_file=str(tmp_path / "data" / "train.csv"),
                                       dev_file=str(tmp_path / "data" / "dev.csv"), label_names=["no", "yes"]),
                            seed=0).source
    assert custom.kind == "custom" and custom.pair and custom.text_columns == ("text", "text_pair")
    assert set(custom.files) == {"train", "dev"}
    relative = from_record({**custom.to_record(), "files": {"dev": "data/dev.csv"}}, "x")
    resolved = resolve_data(None, "custom", ["no", "yes"], {}, ckpt=tmp_path, recorded=relative)
    assert resolved.files["dev"] == (tmp_path / "data" / "dev.csv").resolve()
    escaping = from_record({**custom.to_record(), "files": {"dev": "../../etc/passwd.csv"}}, "x")
    with pytest.raises(ExportError, match=r"dynabert.json: data.files.dev.*points outside"):
        resolve_data(None, "custom", ["no", "yes"], {}, ckpt=tmp_path, recorded=escaping)

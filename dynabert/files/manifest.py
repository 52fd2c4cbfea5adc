"""``manifest.json``: what ``export.all`` wrote, how each file was verified, and what device_bench reads.

One writer (:func:`write_manifest`, called by ``export.all``) and one reader (:func:`read_manifest`, used
by device_bench and pick); :func:`load_previous` is export's own lenient reading of the last run's manifest
for resuming. The writer checks what it writes with the reader's own checks, so the two cannot drift.

Schema (``schema_version`` 1). Paths are relative to the folder holding ``manifest.json``; sizes are
bytes; a directory artifact (``hf/``, ``.mlpackage``) has the total size of its files and a SHA-256 over
its files' relative paths and contents (:func:`dynabert.fileio.sha256_path`)::

    {
      "schema_version": 1,
      "generator": "export.all",
      "created": "2025-01-01T00:00:00Z", "updated": "...",       # UTC, ISO 8601
      "complete": true,               # every requested artifact exists and none failed
      "checkpoint": {"path": "/abs/ckpt", "sha256": "...", "stage": "width", "backbone": "minilm",
                     "model_type": "bert"},
      "task": "sst2", "label_names": ["negative", "positive"],   # label_names is null for regression
      "num_labels": 2, "is_regression": false,
      "max_length": 128,              # the longest sequence every artifact accepts
      "tokenizer": {"dir": "tokenizer", "vocab": "tokenizer/vocab.txt",    # vocab null if no vocab.txt
                    "files": ["tokenizer/tokenizer.json", ...], "pad_token_id": 0, "do_lower_case": true},
      "labels": "tokenizer/labels.json",   # {"task", "regression", "labels": [...]} (also in each hf/)
      "verification": {"split": "dev", "data": "/abs/glue", "n": 64, "lengths": [4, 55],  # data: GLUE dir
                                                                   # or a custom task's dev file
                       "sources": ["/abs/glue/SST-2/dev.tsv:12", ...], "inputs_sha256": "...",
                       "fp32_atol": 0.001, "min_argmax_agreement": 0.98, "max_metric_drop": 0.01},
      "data_source": {...},           # where the dev set is: dynabert.files.data_source's record (training's,
                                      # with the paths export read); absent in older manifests
      "tools": {"torch": "2.13.0", "onnxruntime": "1.31.1", ..., "executorch": null},  # null: absent
      "formats": ["hf", "onnx", ...],          # requested in this run
      "subnets": [{"name": "w0.5_d0.5", "dir": "w0.5_d0.5", "width_mult": 0.5, "depth_mult": 0.5,
                   "num_heads": 6, "head_size": 64, "intermediate_size": 768, "layers": [0, 2, 4],
                   "params": {"embeddings": .., "encoder": .., "head": .., "total": ..},
                   "flops_seq128": ..}, ...],
      "ort_required_operators_config": "required_operators.config",  # covers every .ort; null if none
      "artifacts": [ARTIFACT, ...],
      "bundles": [{"format": "onnx-int8-bundle", "precision": "int8", "path": "bundle.int8/", "bytes": ..,
                   "sha256": "...",        # over the folder's files (dynabert.fileio.sha256_path)
                   "fingerprint": "...",   # every hf/ checksum, the code, the verification sizes
                   "ratio_to_full": 1.02, "ratio_to_sum": 0.11,   # vs the w1_d1 / all 12 standalone files
                   "entries": {"w1_d1": {"parity": {...}, "vs_standalone": {...}, "passed": true, ...}, ...},
                   "status": "passed", "errors": []}],   # optional: only with --formats ...-bundle
      "summary": {"total": 96, "passed": 72, "unverified": 24, "failed": 0}
    }

    ARTIFACT = {
      "id": "w0.5_d0.5/onnx-int8",     # "<subnet>/<format>", unique
      "subnet": "w0.5_d0.5", "width_mult": 0.5, "depth_mult": 0.5,
      "format": "onnx-int8",           # hf | onnx | onnx-int8 | onnx-qdq | ort | ort-int8 | ort-qdq |
                                       # coreml | coreml-int8 | pte | pte-int8   (export.formats.FORMATS)
      "precision": "int8",             # fp32 | fp16 | int8 (dynamic) | int8-static (QDQ) |
                                       # int8-weights (int8 storage, fp16 compute) | int8+int4emb (4-bit
                                       # word table) | int8+int4ffn (and 4-bit feed-forward weights)
      "runtime": "onnxruntime",        # transformers | onnxruntime | onnxruntime-mobile | coreml |
                                       # executorch-xnnpack
      "path": "w0.5_d0.5/model.int8.onnx", "is_dir": false, "bytes": 15012345, "sha256": "...",
      "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}, ...],
                                       # shape entries: an int, or a name for a dynamic axis;
                                       # Core ML and .pte take batch 1 and int32 (Core ML) / int64 ids
      "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 2]}],
      "max_length": 128,
      "params": {"embeddings": .., "encoder": .., "head": .., "total": ..},   # dynabert.stats.model_stats
      "flops_seq128": 123456789,
      "parity": {"n": 500, "modes": ["batch1", "padded-batch8"], "max_abs_diff": 0.0123,
                 "argmax_agreement": 0.994, "gate": "approx", "min_argmax_agreement": 0.98,
                 "passed": true, "flips": [{"example": 17, "reference_margin": 0.004}]},
             # n: fp32 formats are checked on verification.n inputs, reduced-precision ones (gate "approx")
             # on verification.n_approx (more: a 0.98 agreement gate needs hundreds of examples);
             # argmax_agreement: over all n examples (and every mode, the worst); the "approx" gate is
             # argmax_agreement >= min_argmax_agreement (regression heads: Pearson and mean |diff|), and,
             # where the task is known, the task's main metric on the inputs' labels ("metric",
             # "metric_reference", "metric_file": the worst mode, "metric_drop") at most max_metric_drop
             # below the PyTorch sub-network's ("metric_gated": false below 200 inputs: reported only);
             # flips: examples whose class changed (at most 10), with the reference's top-2 logit margin
             # gate "exact" (fp32) has "atol" and requires argmax_agreement == 1.0;
             # not runnable here: {"status": "not run", "reason": "needs macOS", "passed": null}
      "weights": {"method": "onnx-initializers", "counted": .., "expected": .., "full_model": ..,
                  "rel_tol": 0.02, "passed": true},   # the file holds the sub-model's weights, not the full set
      "spec_check": {...},             # Core ML only: coreml.validate_spec's record
      "status": "passed",              # passed | unverified (checks passed, parity not runnable here) | failed
      "errors": [],                    # why it failed, one line each
      "details": {...},                # format-specific: chosen ONNX graph and latencies, quantization, ...
      "source": "w0.5_d0.5/hf",        # id of the artifact it was made from
      "fingerprint": "...",            # SHA-256 of everything it was made from; a re-run skips the artifact
                                       # when this and the file's sha256 still match
      "export_seconds": 1.23,          # wall time of building and verifying it
      "export_cpu_seconds": 1.01,      # CPU time of the same (all threads of the process that built it)
      "session_settings": {...}        # optional: how the runtime must open this file (passed as they are
                                       # to the catalogue entry's open(), dynabert.runtimes); absent: none
    }

device_bench should use artifacts whose ``status`` is ``passed`` or ``unverified``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from dynabert.fileio import PathEscapeError, resolve_inside, write_text_atomic

from .data_source import DataSource, from_record
from .fields import StageFileError, optional_field, read_json_object, required_field, string_list

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
#: Artifact statuses that a consumer may use; "failed" ones are listed, not run.
USABLE = ("passed", "unverified")
STATUSES = (*USABLE, "failed")
#: A dev set export recorded as a file (a custom task's) must look like one: never read any other file.
DEV_FILE_SUFFIXES = (".csv", ".tsv", ".txt")


class ArtifactRecord(TypedDict, total=False):
    """One ``artifacts[]`` entry as export builds it (see the schema above for the free-form sub-records)."""

    id: str
    subnet: str
    width_mult: float
    depth_mult: float
    format: str
    precision: str
    runtime: str
    path: str
    is_dir: bool
    bytes: int | None
    sha256: str | None
    inputs: list[dict]
    outputs: list[dict]
    max_length: int
    params: dict
    flops_seq128: int
    parity: dict | None
    weights: dict | None
    spec_check: dict
    status: str
    errors: list[str]
    details: dict
    source: str | None
    fingerprint: str | None
    export_seconds: float | None
    export_cpu_seconds: float | None
    session_settings: dict


class SubnetRecord(TypedDict):
    """One ``subnets[]`` entry: the sub-network's shape and its size (``dynabert.stats.model_stats``)."""

    name: str
    dir: str
    width_mult: float
    depth_mult: float
    num_heads: int
    head_size: int
    intermediate_size: int
    layers: list[int]
    params: dict
    flops_seq128: int


def now() -> str:
    """UTC now, ISO 8601 to the second (the manifest's ``created``/``updated``)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def summarize(artifacts: list[dict]) -> dict:
    counts = {"total": len(artifacts), "passed": 0, "unverified": 0, "failed": 0}
    for artifact in artifacts:
        counts[artifact["status"]] = counts.get(artifact["status"], 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------- typed view


@dataclass(frozen=True)
class Artifact:
    """A checked ``artifacts[]`` entry; ``path`` is resolved inside the manifest's folder."""

    id: str
    subnet: str
    width_mult: float
    depth_mult: float
    format: str
    precision: str
    runtime: str  # the file's runtime family (export.formats.Format.runtime), a key of dynabert.runtimes
    path: Path  # absolute
    rel_path: str  # as written in the manifest
    is_dir: bool
    bytes: int
    sha256: str
    input_names: tuple[str, ...]
    input_dtypes: tuple[str, ...]
    max_length: int
    status: str
    raw: dict = field(repr=False, compare=False, hash=False)

    @property
    def is_full(self) -> bool:
        return self.width_mult == 1.0 and self.depth_mult == 1.0

    @property
    def session_settings(self) -> dict:
        """Per-file settings the runtime should open it with (e.g. ORT's disabled optimizers); may be empty."""
        value = self.raw.get("session_settings")
        return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Bundle:
    """A checked ``bundles[]`` entry: one shared-weight bundle folder (export.bundle) and how it verified."""

    format: str  # onnx-bundle | onnx-int8-bundle
    precision: str
    path: Path  # the bundle folder, absolute (holds bundle.json, weights.bin and one graph per entry)
    rel_path: str
    bytes: int
    sha256: str
    status: str
    entries: tuple[str, ...]  # sub-network names, largest first


@dataclass(frozen=True)
class Manifest:
    """A checked ``manifest.json``. ``artifacts``: every listed artifact, in manifest order."""

    path: Path
    root: Path
    task: str
    label_names: list[str] | None
    num_labels: int
    is_regression: bool
    max_length: int
    model_type: str
    tokenizer_dir: Path
    vocab: Path | None
    labels_file: Path | None
    do_lower_case: bool | None
    pad_token_id: int
    data_dir: Path | None  # where export took its dev inputs
    subnets: list[dict]
    artifacts: list[Artifact]
    raw: dict = field(repr=False)
    #: the typed data source export used (None in manifests written before it was recorded)
    data_source: DataSource | None = None
    #: the shared-weight bundles export built (``--formats onnx-bundle,onnx-int8-bundle``)
    bundles: list[Bundle] = field(default_factory=list)

    def hf_dir(self, subnet: str) -> Path | None:
        """The sub-model's ``hf/`` folder: its ``config.json`` is what FLOPs and parameters are counted from."""
        for a in self.artifacts:
            if a.subnet == subnet and a.format == "hf":
                return a.path
        return None

    @property
    def full_subnet(self) -> str | None:
        for s in self.subnets:
            if float(s["width_mult"]) == 1.0 and float(s["depth_mult"]) == 1.0:
                return s["name"]
        return None


# ---------------------------------------------------------------------------------------------- reader


def _multiplier(record: dict, key: str, where: str) -> float:
    value = float(required_field(record, key, where, (int, float)))
    if not 0.0 < value <= 1.0:
        raise StageFileError(f"{where}: {key!r} should be in (0, 1], got {value!r}")
    return value


def _inside(root: Path, rel: str, where: str, field_name: str) -> Path:
    """A manifest path resolved inside the manifest's folder (:func:`dynabert.fileio.resolve_inside`)."""
    try:
        return resolve_inside(root, rel)
    except PathEscapeError as exc:
        raise StageFileError(f"{where}: {field_name!r} refused: {exc}") from None


def _inputs(record: dict, where: str) -> list[dict]:
    inputs = optional_field(record, "inputs", where, list) or [{"name": "input_ids", "dtype": "int64"},
                                                          {"name": "attention_mask", "dtype": "int64"}]
    for i, item in enumerate(inputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(
                item.get("dtype", "int64"), str):
            raise StageFileError(f"{where}: 'inputs[{i}]' should be an object with a string 'name' and 'dtype', "
                                 f"got {item!r}")
    return inputs


def _artifact(record: object, root: Path, where: str) -> Artifact:
    if not isinstance(record, dict):
        raise StageFileError(f"{where}: an artifact entry is not an object: {record!r}")
    art_id = required_field(record, "id", where, str)
    where = f"{where}: artifact {art_id}"
    rel = required_field(record, "path", where, str)
    inputs = _inputs(record, where)
    optional_field(record, "session_settings", where, dict)
    return Artifact(
        id=art_id, subnet=required_field(record, "subnet", where, str),
        width_mult=_multiplier(record, "width_mult", where), depth_mult=_multiplier(record, "depth_mult", where),
        format=required_field(record, "format", where, str),
        precision=optional_field(record, "precision", where, str, "fp32"),
        runtime=required_field(record, "runtime", where, str), path=_inside(root, rel, where, "path"), rel_path=rel,
        is_dir=optional_field(record, "is_dir", where, bool, False),
        bytes=optional_field(record, "bytes", where, int, 0),
        sha256=optional_field(record, "sha256", where, str, ""),
        input_names=tuple(i["name"] for i in inputs), input_dtypes=tuple(i.get("dtype", "int64") for i in inputs),
        max_length=optional_field(record, "max_length", where, int, 0),
        status=optional_field(record, "status", where, str, ""), raw=record,
    )


def _bundle(record: object, root: Path, where: str, i: int) -> Bundle:
    where = f"{where}: bundles[{i}]"
    if not isinstance(record, dict):
        raise StageFileError(f"{where}: not an object: {record!r}")
    rel = required_field(record, "path", where, str)
    size = required_field(record, "bytes", where, int)
    entries = required_field(record, "entries", where, dict)
    if size < 0 or not all(isinstance(name, str) and plain_name(name) for name in entries):
        raise StageFileError(f"{where}: 'bytes' must be >= 0 and 'entries' keyed by sub-network names")
    return Bundle(format=required_field(record, "format", where, str),
                  precision=required_field(record, "precision", where, str),
                  path=_inside(root, rel, where, "path"), rel_path=rel, bytes=size,
                  sha256=required_field(record, "sha256", where, str),
                  status=required_field(record, "status", where, str), entries=tuple(entries))


def _data_dir(data: dict, root: Path, where: str) -> Path | None:
    """``verification.data``: where export took its dev inputs.

    Usually an absolute path on the exporting machine (a GLUE folder, or a custom task's dev file):
    datasets are not copied into exports, so it cannot be held inside the manifest's folder. It is only
    ever read as a dev set (the task's fixed file names in a folder, or a .csv/.tsv/.txt file); a relative
    path is resolved inside the manifest's folder like every other path.
    """
    verification = optional_field(data, "verification", where, dict, {})
    value = optional_field(verification, "data", f"{where}: verification", str)
    if not value:
        return None
    if not Path(value).is_absolute():
        return _inside(root, value, where, "verification.data")
    path = Path(value)
    if path.is_file() and path.suffix.lower() not in DEV_FILE_SUFFIXES:
        raise StageFileError(f"{where}: 'verification.data' refused: {value!r} is neither a dev-set folder nor a "
                             f"{'/'.join(DEV_FILE_SUFFIXES)} file")
    return path


def _data_source(data: dict, root: Path, where: str) -> DataSource | None:
    """``data_source``, its paths held to the rules of ``verification.data`` (a relative one stays inside the
    manifest's folder; a dev file must look like one)."""
    record = data.get("data_source")
    if record is None:
        return None
    source = from_record(record, f"{where}: data_source")
    paths = {"data_dir": source.data_dir} if source.data_dir else {}
    paths.update({f"files.{split}": path for split, path in source.files.items()})
    checked = {}
    for name, value in paths.items():
        path = Path(value) if Path(value).is_absolute() else _inside(root, value, where, f"data_source.{name}")
        if name.startswith("files.") and path.suffix.lower() not in DEV_FILE_SUFFIXES:
            raise StageFileError(f"{where}: 'data_source.{name}' refused: {value!r} is not a "
                                 f"{'/'.join(DEV_FILE_SUFFIXES)} file")
        checked[name] = str(path)
    return replace(source, data_dir=checked.get("data_dir"),
                   files={split: checked[f"files.{split}"] for split in source.files})


def _check_version(data: dict, where: str) -> None:
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise StageFileError(f"{where}: manifest schema_version {json.dumps(version)}; this dynabert-edge reads "
                             f"version {SCHEMA_VERSION}")


def parse_manifest(data: dict, path: Path) -> Manifest:
    """Check a manifest's content (types, ranges, paths inside its folder) and return the typed view."""
    where = str(path)
    _check_version(data, where)
    root = path.parent.resolve()
    records = required_field(data, "artifacts", where, list)
    subnets = required_field(data, "subnets", where, list)
    task = required_field(data, "task", where, str)
    tok = optional_field(data, "tokenizer", where, dict, {})
    if not tok.get("dir"):
        raise StageFileError(f"{where}: manifest has no tokenizer folder ('tokenizer.dir')")
    tok_where = f"{where}: tokenizer"
    tokenizer_dir = _inside(root, required_field(tok, "dir", tok_where, str), where, "tokenizer.dir")
    artifacts = [_artifact(record, root, where) for record in records]
    vocab = optional_field(tok, "vocab", tok_where, str)
    labels = optional_field(data, "labels", where, str)
    is_regression = optional_field(data, "is_regression", where, bool, False)
    label_names = string_list(data, "label_names", where)
    num_labels = optional_field(data, "num_labels", where, int) or (
        1 if is_regression else len(label_names) if label_names else 2)
    if num_labels < 1 or (label_names is not None and len(label_names) != num_labels):
        raise StageFileError(f"{where}: 'num_labels' {num_labels} does not match 'label_names' {label_names}")
    max_length = optional_field(data, "max_length", where, int) or 128
    if max_length < 3:
        raise StageFileError(f"{where}: 'max_length' should be >= 3, got {max_length}")
    for i, subnet in enumerate(subnets):
        sub_where = f"{where}: subnets[{i}]"
        if not isinstance(subnet, dict):
            raise StageFileError(f"{sub_where}: not an object: {subnet!r}")
        required_field(subnet, "name", sub_where, str)
        _multiplier(subnet, "width_mult", sub_where)
        _multiplier(subnet, "depth_mult", sub_where)
    return Manifest(
        path=path.resolve(), root=root, task=task, label_names=label_names, num_labels=num_labels,
        is_regression=is_regression, max_length=max_length,
        model_type=str(optional_field(data, "checkpoint", where, dict, {}).get("model_type") or "bert"),
        tokenizer_dir=tokenizer_dir, vocab=_inside(root, vocab, where, "tokenizer.vocab") if vocab else None,
        labels_file=_inside(root, labels, where, "labels") if labels else None,
        do_lower_case=optional_field(tok, "do_lower_case", tok_where, bool),
        pad_token_id=optional_field(tok, "pad_token_id", tok_where, int, 0), data_dir=_data_dir(data, root, where),
        subnets=subnets, artifacts=artifacts, raw=data, data_source=_data_source(data, root, where),
        bundles=[_bundle(b, root, where, i) for i, b in enumerate(optional_field(data, "bundles", where, list, []))],
    )


def manifest_path(path: str | Path) -> Path:
    """``path`` itself, or ``path/manifest.json`` when it is the export folder."""
    path = Path(path).expanduser()
    return path / MANIFEST_NAME if path.is_dir() else path


def read_manifest(path: str | Path) -> Manifest:
    """Read and check ``manifest.json`` (or the folder holding it): :class:`StageFileError` naming the file
    and the field on any problem. Files are not opened here (device_bench checks them and their checksums)."""
    path = manifest_path(path)
    if not path.is_file():
        raise StageFileError(f"{path}: no such manifest (run `python -m export.all --ckpt CKPT` first)")
    return parse_manifest(read_json_object(path, "manifest"), path)


# ---------------------------------------------------------------------------------------------- writer


def write_manifest(path: Path, manifest: dict) -> None:
    """Stamp ``updated`` and ``summary``, check the content with the reader's checks, write it atomically."""
    manifest["updated"] = now()
    manifest["summary"] = summarize(manifest["artifacts"])
    parse_manifest(json.loads(json.dumps(manifest)), Path(path))  # what the reader would refuse is never written
    write_text_atomic(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


# ---------------------------------------------------------------------------------------------- resume


def plain_name(name: object) -> bool:
    """A folder name that stays where it is put: no separators, not ``.``/``..``."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def trusted_artifact(art: object, expected_path: Callable[[str, str], str | None]) -> bool:
    """Whether a previous run's record may be reused: the fields a resume reads have the right types, and its
    path is ``expected_path(subnet, format)``, the one export itself gives that format (so a record edited to
    point at ``../../etc/passwd`` or an absolute path is never listed again, nor hashed); ``None``: an
    unknown format."""
    if not isinstance(art, dict):
        return False
    subnet, fmt = art.get("subnet"), art.get("format")
    if not isinstance(subnet, str) or not isinstance(fmt, str) or art.get("id") != f"{subnet}/{fmt}":
        return False
    if not plain_name(subnet):
        return False
    expected = expected_path(subnet, fmt)
    return expected is not None and art.get("path") == expected and art.get("status") in STATUSES and (
        art.get("sha256") is None or isinstance(art.get("sha256"), str))


def load_previous(path: Path, expected_path: Callable[[str, str], str | None]) -> dict[str, Any] | None:
    """The last run's manifest for resuming, or None if there is none or it cannot be trusted (then everything
    is redone). Only well-formed artifact records (:func:`trusted_artifact`) and subnet records are kept."""
    try:
        data = read_json_object(path, "manifest")
    except StageFileError:
        return None
    if data.get("schema_version") != SCHEMA_VERSION or not isinstance(data.get("artifacts"), list):
        return None
    data["artifacts"] = [a for a in data["artifacts"] if trusted_artifact(a, expected_path)]
    if not isinstance(data.get("subnets"), list):
        data["subnets"] = []
    # Carried into the next manifest as they are, so held to what export writes: the folder is the name.
    data["subnets"] = [x for x in data["subnets"] if isinstance(x, dict) and plain_name(x.get("name"))
                       and x.get("dir") == x["name"]]
    return data

"""Read and check ``manifest.json`` (schema: the docstring of ``export/manifest.py``).

device_bench trusts nothing but the manifest and the files it lists: each file must exist and still have
the SHA-256 the export recorded, otherwise the numbers would describe a file nobody verified. Problems
are :class:`BenchError` with a one-line message naming the manifest or artifact at fault.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from dynabert.fileio import PathEscapeError, resolve_inside, sha256_path

#: The manifest schema this reader understands (``export.manifest.SCHEMA_VERSION``).
SCHEMA_VERSION = 1
#: Artifact statuses a consumer may use (``export.manifest.USABLE``); "failed" ones are listed, not run.
USABLE = ("passed", "unverified")


class BenchError(ValueError):
    """A problem the user can fix (bad manifest, missing or changed file, bad option): one line, exit 2."""


@dataclass(frozen=True)
class Artifact:
    id: str
    subnet: str
    width_mult: float
    depth_mult: float
    format: str
    precision: str
    runtime: str  # transformers | onnxruntime | onnxruntime-mobile | coreml | executorch-xnnpack
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


@dataclass(frozen=True)
class Manifest:
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
    artifacts: list[Artifact]  # usable ones, in manifest order
    unusable: list[dict]  # {"id", "status", "errors"} of artifacts export marked failed
    raw: dict = field(repr=False)

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


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def required_field(record: dict, key: str, where: str, kind: type | tuple[type, ...]):
    """``record[key]``, which must be present, checked like :func:`optional_field`."""
    if key not in record:
        raise BenchError(f"{where}: missing field {key!r}")
    return optional_field(record, key, where, kind)


def optional_field(record: dict, key: str, where: str, kind: type | tuple[type, ...], default=None):
    """``record[key]`` checked against ``kind`` (``default`` when absent or null): a wrong type is one line.

    Shared by every reader of a JSON file someone else may have written (manifests, results files).
    """
    value = record.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON has no separate bool: true must not pass as the integer 1, nor NaN/Infinity as a number.
    wrong = (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds) or (
        isinstance(value, float) and not math.isfinite(value))
    if wrong:
        raise BenchError(f"{where}: {key!r} should be {_type_name(kind)}, got {value!r}")
    return value


def _multiplier(record: dict, key: str, where: str) -> float:
    value = float(required_field(record, key, where, (int, float)))
    if not 0.0 < value <= 1.0:
        raise BenchError(f"{where}: {key!r} should be in (0, 1], got {value!r}")
    return value


def _inside(root: Path, rel: str, where: str, field_name: str) -> Path:
    """A manifest path resolved inside the manifest's folder (:func:`dynabert.fileio.resolve_inside`)."""
    try:
        return resolve_inside(root, rel)
    except PathEscapeError as exc:
        raise BenchError(f"{where}: {field_name!r} refused: {exc}") from None


def _inputs(record: dict, where: str) -> list[dict]:
    inputs = optional_field(record, "inputs", where, list) or [{"name": "input_ids", "dtype": "int64"},
                                                          {"name": "attention_mask", "dtype": "int64"}]
    for i, item in enumerate(inputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(
                item.get("dtype", "int64"), str):
            raise BenchError(f"{where}: 'inputs[{i}]' should be an object with a string 'name' and 'dtype', "
                             f"got {item!r}")
    return inputs


def _artifact(record: dict, root: Path, where: str) -> Artifact:
    if not isinstance(record, dict):
        raise BenchError(f"{where}: an artifact entry is not an object: {record!r}")
    art_id = required_field(record, "id", where, str)
    where = f"{where}: artifact {art_id}"
    rel = required_field(record, "path", where, str)
    inputs = _inputs(record, where)
    get = lambda key, kind, default=None: optional_field(record, key, where, kind, default)  # noqa: E731
    return Artifact(
        id=art_id, subnet=required_field(record, "subnet", where, str),
        width_mult=_multiplier(record, "width_mult", where), depth_mult=_multiplier(record, "depth_mult", where),
        format=required_field(record, "format", where, str), precision=get("precision", str, "fp32"),
        runtime=required_field(record, "runtime", where, str), path=_inside(root, rel, where, "path"), rel_path=rel,
        is_dir=get("is_dir", bool, False), bytes=get("bytes", int, 0), sha256=get("sha256", str, ""),
        input_names=tuple(i["name"] for i in inputs), input_dtypes=tuple(i.get("dtype", "int64") for i in inputs),
        max_length=get("max_length", int, 0), status=get("status", str, ""), raw=record,
    )


def _check_tree(folder: Path, root: Path, where: str) -> None:
    """A directory artifact (``hf/``, ``.mlpackage``) must not hold a symlink to a file outside ``root``."""
    for item in folder.rglob("*"):
        if item.is_symlink() and not item.resolve().is_relative_to(root):
            raise BenchError(f"{where}: 'path' refused: {item.relative_to(root).as_posix()} is a symlink to "
                             f"{item.resolve()}, outside {root}")


#: A dev set export recorded as a file (a custom task's) must look like one: never read any other file.
DEV_FILE_SUFFIXES = (".csv", ".tsv", ".txt")


def _data_dir(data: dict, root: Path, where: str) -> Path | None:
    """``verification.data``: where export took its dev inputs.

    By the manifest schema this is usually an absolute path on the exporting machine (a GLUE folder, or a
    custom task's dev file): datasets are not copied into exports, so it cannot be held inside the
    manifest's folder. It is only ever read as a dev set (the task's fixed file names in a folder, or a
    .csv/.tsv/.txt file); a relative path is resolved inside the manifest's folder like every other path.
    """
    verification = optional_field(data, "verification", where, dict, {})
    value = optional_field(verification, "data", f"{where}: verification", str)
    if not value:
        return None
    if not Path(value).is_absolute():
        return _inside(root, value, where, "verification.data")
    path = Path(value)
    if path.is_file() and path.suffix.lower() not in DEV_FILE_SUFFIXES:
        raise BenchError(f"{where}: 'verification.data' refused: {value!r} is neither a dev-set folder nor a "
                         f"{'/'.join(DEV_FILE_SUFFIXES)} file")
    return path


def read_manifest(path: str | Path, *, verify_files: bool = True, include_failed: bool = False) -> Manifest:
    """Parse ``manifest.json`` and check every usable artifact's file (exists; SHA-256 when ``verify_files``).

    ``include_failed`` also returns artifacts that failed export verification and whose file exists (their
    ``status`` stays "failed", so the table can flag them); the others stay in ``unusable``.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise BenchError(f"{path}: no such manifest (run `python -m export.all --ckpt CKPT` first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not a valid manifest: {exc}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a valid manifest: top level is not a JSON object")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise BenchError(f"{path}: manifest schema_version {data.get('schema_version')!r}; device_bench reads "
                         f"version {SCHEMA_VERSION}")
    where = str(path)
    root = path.parent.resolve()
    records = required_field(data, "artifacts", where, list)
    subnets = required_field(data, "subnets", where, list)
    task = required_field(data, "task", where, str)
    tok = optional_field(data, "tokenizer", where, dict, {})
    if not tok.get("dir"):
        raise BenchError(f"{where}: manifest has no tokenizer folder ('tokenizer.dir')")
    tok_where = f"{where}: tokenizer"
    tokenizer_dir = _inside(root, required_field(tok, "dir", tok_where, str), where, "tokenizer.dir")
    if not tokenizer_dir.is_dir():
        raise BenchError(f"{where}: the tokenizer folder {tokenizer_dir} listed in the manifest does not exist")
    usable, unusable = [], []
    for record in records:
        artifact = _artifact(record, root, where)
        failed_but_wanted = include_failed and artifact.status not in USABLE and artifact.path.exists()
        if artifact.status not in USABLE and not failed_but_wanted:
            unusable.append({"id": artifact.id, "status": artifact.status, "errors": record.get("errors") or []})
            continue
        if not artifact.path.exists():
            raise BenchError(f"{artifact.id}: file {artifact.path} listed in {path} does not exist")
        if artifact.path.is_dir():
            _check_tree(artifact.path, root, f"{where}: artifact {artifact.id}")
        if verify_files and not artifact.sha256:
            raise BenchError(f"{where}: artifact {artifact.id}: no 'sha256' to check {artifact.rel_path} against "
                             f"(re-run export.all, or pass --no-verify-sha to trust the file)")
        if verify_files:
            actual = sha256_path(artifact.path)
            if actual != artifact.sha256:
                raise BenchError(f"{artifact.id}: {artifact.path} has sha256 {actual[:12]}…, the manifest says "
                                 f"{artifact.sha256[:12]}…: the file changed after export; re-run export.all")
        usable.append(artifact)
    if not usable:
        raise BenchError(f"{path}: no usable artifact (statuses: "
                         f"{sorted({r.get('status') for r in records if isinstance(r, dict)}) or 'none listed'})")
    vocab = optional_field(tok, "vocab", tok_where, str)
    labels = optional_field(data, "labels", where, str)
    is_regression = optional_field(data, "is_regression", where, bool, False)
    label_names = optional_field(data, "label_names", where, list)
    if label_names is not None and not all(isinstance(n, str) for n in label_names):
        raise BenchError(f"{where}: 'label_names' should be a list of strings, got {label_names!r}")
    num_labels = optional_field(data, "num_labels", where, int) or (
        1 if is_regression else len(label_names) if label_names else 2)
    if num_labels < 1 or (label_names is not None and len(label_names) != num_labels):
        raise BenchError(f"{where}: 'num_labels' {num_labels} does not match 'label_names' {label_names}")
    max_length = optional_field(data, "max_length", where, int) or 128
    if max_length < 3:
        raise BenchError(f"{where}: 'max_length' should be >= 3, got {max_length}")
    for i, subnet in enumerate(subnets):
        sub_where = f"{where}: subnets[{i}]"
        if not isinstance(subnet, dict):
            raise BenchError(f"{sub_where}: not an object: {subnet!r}")
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
        subnets=subnets, artifacts=usable, unusable=unusable, raw=data,
    )

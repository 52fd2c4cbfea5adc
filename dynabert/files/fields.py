"""Typed reading of JSON that someone else may have written: one error type, one-line messages.

Every stage file reader (:mod:`dynabert.files`) parses its JSON with :func:`read_json_object` and checks
each field with :func:`required_field` / :func:`optional_field`, so a wrong type, a missing field or a
wrong version is one line naming the file and the field, never a ``KeyError`` from deep inside.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class StageFileError(ValueError):
    """A stage file that cannot be used: the message is one line naming the file and the field."""


def type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def required_field(record: dict, key: str, where: str, kind: type | tuple[type, ...],
                   error: type[Exception] = StageFileError) -> Any:
    """``record[key]``, which must be present, checked like :func:`optional_field`."""
    if key not in record:
        raise error(f"{where}: missing field {key!r}")
    return optional_field(record, key, where, kind, error=error)


def optional_field(record: dict, key: str, where: str, kind: type | tuple[type, ...], default: Any = None,
                   error: type[Exception] = StageFileError) -> Any:
    """``record[key]`` checked against ``kind`` (``default`` when absent or null): a wrong type is one line."""
    value = record.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON has no separate bool: true must not pass as the integer 1, nor NaN/Infinity as a number.
    wrong = (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds) or (
        isinstance(value, float) and not math.isfinite(value))
    if wrong:
        raise error(f"{where}: {key!r} should be {type_name(kind)}, got {_short(value)}")
    return value


def string_list(record: dict, key: str, where: str, error: type[Exception] = StageFileError) -> list[str] | None:
    """An optional list of strings (``None`` when absent or null)."""
    value = optional_field(record, key, where, list, error=error)
    if value is not None and not all(isinstance(x, str) for x in value):
        raise error(f"{where}: {key!r} should be a list of strings, got {_short(value)}")
    return value


def read_json_object(path: Path, what: str, error: type[Exception] = StageFileError) -> dict:
    """``path`` parsed as a JSON object, or one ``error`` line naming the file (unreadable, not JSON, not an
    object). The one place a stage file's JSON text is parsed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not a valid {what}: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: not a valid {what}: top level is not a JSON object")
    return data


def _short(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""Atomic writes of device_bench's outputs (over :mod:`dynabert.fileio`): a Ctrl-C halfway through a
10-minute benchmark must not leave a truncated ``results.json`` that ``pick`` would then read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dynabert.fileio import atomic_file, write_json_atomic, write_text_atomic


def write_text(final: str | Path, text: str) -> Path:
    return write_text_atomic(final, text)


def write_bytes(final: str | Path, data: bytes) -> Path:
    with atomic_file(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def write_json(final: str | Path, obj: Any) -> Path:
    return write_json_atomic(final, obj, allow_nan=False)


def copy_file(src: str | Path, final: str | Path) -> Path:
    with atomic_file(final) as tmp:
        shutil.copyfile(src, tmp)
    return Path(final)

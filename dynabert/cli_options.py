"""Command-line option types and the one-line-error parser, shared by the stage commands (export,
device_bench, pick) and ``python -m quickstart``.

Every numeric option is checked when it is parsed (finite, in range), so ``--max-mb nan`` or ``--jobs 0``
fail at once with one line instead of silently dropping a constraint or crashing an hour into a run.
argparse's own error prints the whole usage block first; :class:`Parser` prints one line and points to
``--help`` (exit 2, as argparse does).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``NAME: error: what (see --help)``, exit 2.

    ``error_name``: how the command names itself in its other errors (e.g. ``export.all``); default ``prog``.
    """

    def __init__(self, *args, error_name: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.error_name = error_name or self.prog

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.error_name}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounds(low: float | None, high: float | None, low_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}]"


def _in_range(value: float, low: float | None, high: float | None, low_open: bool) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or value <= high


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer ``>= low`` (and ``<= high``)."""

    def parse(text: str) -> int:
        value = _int(text)
        if not _in_range(value, low, high, False):
            raise argparse.ArgumentTypeError(f"must be {_bounds(low, high, False)}, got {text!r}")
        return value

    return parse


def float_in(low: float, high: float | None = None, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number ``>= low`` (``> low`` with ``low_open``) and ``<= high``."""

    def parse(text: str) -> float:
        value = _float(text)
        if not _in_range(value, low, high, low_open):
            raise argparse.ArgumentTypeError(f"must be a number {_bounds(low, high, low_open)}, got {text!r}")
        return value

    return parse


def int_list(low: int, high: int | None = None) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each ``>= low`` (and ``<= high``), at least one."""
    one = int_in(low, high)

    def parse(text: str) -> list[int]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
        try:
            return [one(x) for x in items]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers {_bounds(low, high, False)}, "
                                             f"got {text!r}") from None

    return parse


def non_empty(text: str) -> str:
    """An argparse type: a path or name that is not empty (``--out ""`` would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty")
    return text


def existing_path(text: str) -> str:
    """An argparse type: a file or folder that exists (a typo fails now, not as "accuracy not run" later)."""
    from pathlib import Path

    if not Path(text).expanduser().exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text!r}")
    return text


def existing_file(text: str) -> str:
    """An argparse type: a file that exists."""
    from pathlib import Path

    if not Path(text).expanduser().is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return text

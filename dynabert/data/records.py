"""The two types every reader shares: one labelled example, and the error bad input raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Example:
    """One labelled example.

    ``label`` is a class id (``int``) for classification and a score (``float``) for regression.
    ``source`` says where it came from, ``"path:line"`` for files, so a suspicious example can be
    looked up.
    """

    text: str
    text_pair: str | None
    label: int | float
    source: str


class DataError(ValueError):
    """Input data that cannot be read: the message names the file and, for a bad row, its 1-based line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}")

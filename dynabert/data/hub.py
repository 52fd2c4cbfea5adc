"""GLUE through the Hugging Face ``datasets`` library, for users who are online.

``datasets`` is an optional extra (``pip install dynabert-edge[datasets]``) imported only here, only
when called. Hub label ids already follow :mod:`dynabert.data.tasks`' order, so they pass through.
"""

from __future__ import annotations

import math
from typing import Any

from .records import DataError, Example
from .tasks import TaskSpec, get_task

#: Our split names -> the hub's.
_HUB_SPLITS = {
    "train": "train",
    "dev": "validation",
    "validation": "validation",
    "dev_matched": "validation_matched",
    "validation_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
    "validation_mismatched": "validation_mismatched",
}


def hub_split_name(task: str | TaskSpec, split: str) -> str:
    """The hub's name for ``split`` ("dev" is "validation", and "validation_matched" for MNLI)."""
    spec = get_task(task)
    spec.split_file(split)  # rejects splits the task does not have, with the list of those it has
    hub = _HUB_SPLITS[split.lower()]
    return "validation_matched" if spec.name == "mnli" and hub == "validation" else hub


def examples_from_hf_dataset(dataset: Any, task: str | TaskSpec, *, source: str = "hub") -> list[Example]:
    """Convert a ``datasets.Dataset`` with the hub's GLUE columns into :class:`Example` records.

    Rows are numbered from 1 in ``Example.source`` (``"{source}:{row}"``) and in errors. A label of
    -1 (the hub's unlabelled test splits) is a :class:`DataError`.
    """
    spec = get_task(task)
    columns = [spec.hub_text_column, "label"] + ([spec.hub_text_pair_column] if spec.is_pair else [])
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise DataError(source, f"dataset has no column {', '.join(map(repr, missing))} for "
                                f"{spec.display_name} (found: {', '.join(dataset.column_names)})")
    # A dataset with another label order would train silently wrong heads; the hub's own GLUE matches.
    names = getattr(dataset.features["label"], "names", None)
    if names is not None and tuple(names) != spec.label_names:
        raise DataError(source, f"label names {list(names)} differ from {spec.display_name}'s "
                                f"{list(spec.label_names)}")
    examples = []
    for row_number, row in enumerate(dataset, start=1):
        label = row["label"]
        if spec.is_regression:
            if label is None or not math.isfinite(float(label)):
                raise DataError(source, f"missing or non-finite label {label!r}", row_number)
            value: int | float = float(label)
        else:
            if label is None or not 0 <= int(label) < spec.num_labels:
                raise DataError(source, f"label {label!r} is not a {spec.display_name} class id "
                                        f"0..{spec.num_labels - 1} (test splits are unlabelled)", row_number)
            value = int(label)
        pair = row[spec.hub_text_pair_column] if spec.is_pair else None
        examples.append(Example(row[spec.hub_text_column], pair, value, f"{source}:{row_number}"))
    if not examples:
        raise DataError(source, "dataset is empty")
    return examples


def load_hub_split(task: str | TaskSpec, split: str = "train", *, path: str = "nyu-mll/glue",
                   cache_dir: str | None = None) -> list[Example]:
    """Download (or read from the cache) a GLUE split with ``datasets.load_dataset``.

    ``path`` defaults to the canonical repository of the dataset formerly called ``"glue"``.
    """
    try:
        import datasets
    except ImportError as err:
        raise ImportError("loading GLUE from the hub needs the 'datasets' package: "
                          "pip install 'dynabert-edge[datasets]' (or read a local GLUE directory "
                          "with read_glue_split)") from err
    spec = get_task(task)
    hub_split = hub_split_name(spec, split)
    dataset = datasets.load_dataset(path, spec.hub_config, split=hub_split, cache_dir=cache_dir)
    return examples_from_hf_dataset(dataset, spec, source=f"{path}/{spec.hub_config}/{hub_split}")

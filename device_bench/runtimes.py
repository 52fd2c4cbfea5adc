"""device_bench's view of the runtime catalogue (:mod:`dynabert.runtimes`): load a manifest artifact in a
runtime, and the feed it takes. Which runtimes measure which artifact, their thread grids, availability
and memory families are the catalogue entries'; nothing here is keyed on a runtime's name.

A runtime that cannot run here says why (:func:`unavailable_reason`); the caller reports "n/a" with
that reason instead of a number.
"""

from __future__ import annotations

import numpy as np

from dynabert import runtimes as catalogue
from dynabert.runtimes import Session as Runner
from dynabert.runtimes import unavailable_reason

from .manifest_reader import Artifact, BenchError

__all__ = ["ACCURACY_RUNTIME", "RUNTIMES", "Runner", "describe", "load", "make_feed", "runtimes_for",
           "set_executorch_threads", "unavailable_reason"]

#: The runtimes measured in this process, in the catalogue's order (the table's column order).
RUNTIMES: dict[str, catalogue.Runtime] = catalogue.HOST
#: File family (the manifest's ``runtime``) -> the runtime whose accuracy stands for its files.
ACCURACY_RUNTIME: dict[str, str] = {family: r.name for r in RUNTIMES.values() if r.own for family in r.serves}


def runtimes_for(artifact: Artifact) -> list[str]:
    """Measurement runtimes for an artifact, its own (accuracy) runtime first."""
    return catalogue.runtimes_for(artifact.runtime)


def make_feed(artifact: Artifact, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inputs ``artifact`` declares, in its dtypes; token types default to zeros (single segment)."""
    feed = {}
    for name, dtype in zip(artifact.input_names, artifact.input_dtypes, strict=True):
        value = features.get(name)
        if value is None:
            value = np.zeros_like(features["input_ids"])
        feed[name] = np.ascontiguousarray(value, dtype=np.int32 if dtype == "int32" else np.int64)
    return feed


def load(runtime: str, artifact: Artifact, threads: int) -> Runner:
    """Load ``artifact`` in ``runtime`` with ``threads`` intra-op threads (0: the runtime's default), with the
    per-file session settings its manifest record carries."""
    if runtime not in RUNTIMES:
        raise BenchError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    return catalogue.open_session(runtime, artifact.path, threads=threads, input_names=artifact.input_names,
                                  settings=artifact.session_settings)


def describe(runtime: str) -> str:
    spec = catalogue.CATALOGUE.get(runtime)
    return spec.description if spec else runtime


def set_executorch_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide XNNPACK threadpool before a group of runners is loaded."""
    try:
        catalogue.set_executorch_threads(threads)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None

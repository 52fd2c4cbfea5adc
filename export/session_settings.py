"""ONNX Runtime session settings that ship with each ONNX file: measured on x86, a stated default on ARM.

ONNX Runtime rewrites a graph again at session creation, whatever the ``.onnx`` holds, and some of its
fusions are slower than what they replace. Measured here (AMD EPYC, AVX-512 VNNI, 1 thread, seq 128, ORT
1.31 profiler): each fused ``SkipLayerNormalization`` node took ~0.2 ms where the ``Add`` plus
``LayerNormalization`` it replaces took ~0.03 ms, which made the narrowest INT8 sub-model 1.3-1.5x slower
(the LayerNorms do not shrink with width, so the narrow models pay the most). Why the fused kernel is
slower is not established here: both CPU kernels are plain C++ loops over the hidden size. The fix cannot live in the
graph alone (the session fuses ``Add`` + ``LayerNormalization`` again on load), so the setting travels
with the file as a plain dict:

    {"graph_optimization_level": "ORT_ENABLE_ALL", "disabled_optimizers": ["SkipLayerNormFusion"]}

:func:`apply` puts such a dict on an ``onnxruntime.SessionOptions`` (the disabled fusions go through the
session config entry ``optimization.disable_specified_optimizers``, which every ONNX Runtime API has:
Python, C/C++, Java/Android ``SessionOptions.addConfigEntry``, Objective-C); :func:`config_entries` gives
the same as the key/value pairs an app sets. :func:`choose` measures the candidates on the machine it runs
on (x86 targets); for ARM, where nothing can be timed here, :data:`ARM_DEFAULT` is used (see its comment).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The settings format itself (keys, checks, applying it to a session) is core: the reader needs it too.
from dynabert.ort_settings import (  # noqa: F401  (re-exported: export's code and tests use S.apply, ...)
    DEFAULT,
    DISABLE_KEY,
    KEYS,
    LEVELS,
    SettingsError,
    apply,
    config_entries,
    validate,
)

NO_SKIP_LAYER_NORM: dict[str, Any] = {"graph_optimization_level": "ORT_ENABLE_ALL",
                                      "disabled_optimizers": ["SkipLayerNormFusion"]}
#: What :func:`choose` times on x86, the default first.
CANDIDATES: tuple[dict[str, Any], ...] = (DEFAULT, NO_SKIP_LAYER_NORM)
#: ARM (phones): nothing can be timed here. The fused ``SkipLayerNormalization`` and the
#: ``LayerNormalization`` it replaces are both portable C++ in ONNX Runtime's CPU provider (neither has an
#: architecture-specific MLAS path), so there is no architecture-specific reason for the x86 ranking to
#: flip, and a 6x per-node gap is unlikely to; the default is therefore the x86 winner. Unmeasured on ARM:
#: a device that measures otherwise drops the entry (a session setting, not a graph change; for ``.ort``
#: files it is baked in at conversion, so re-convert).
ARM_DEFAULT: dict[str, Any] = NO_SKIP_LAYER_NORM
#: A candidate replaces the default only when this much faster: below it, the difference is noise here.
MIN_GAIN = 0.03


def session(path: str | Path, settings: dict[str, Any], threads: int = 1, profile_prefix: str | Path | None = None):
    """A CPU ``InferenceSession`` of ``path`` with ``settings`` and ``threads`` intra-op threads; with
    ``profile_prefix``, under ONNX Runtime's profiler (``end_profiling()`` writes ``<prefix>_<time>.json``)."""
    import onnxruntime as ort

    options = apply(settings)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def label(settings: dict[str, Any]) -> str:
    """A short name for tables: ``default`` or ``-SkipLayerNormFusion`` (level shown when not ALL)."""
    settings = validate(settings)
    parts = [] if settings["graph_optimization_level"] == "ORT_ENABLE_ALL" else [settings["graph_optimization_level"]]
    parts += [f"-{name}" for name in settings["disabled_optimizers"]]
    return " ".join(parts) or "default"


def is_arm(machine: str | None = None) -> bool:
    return (machine or platform.machine()).lower() in ("arm64", "aarch64", "armv7l", "armv8l")


def choose(path: str | Path, feeds: Sequence[dict[str, np.ndarray]], target: str = "host",
           candidates: Sequence[dict[str, Any]] = CANDIDATES, rounds: int = 7, threads: int = 1) -> dict[str, Any]:
    """The session settings to ship with ``path``, and how they were chosen (for the manifest).

    ``target``: "arm" returns :data:`ARM_DEFAULT` untimed; "host" times on this machine when it is not
    ARM (x86: what export runs on). The candidates are timed interleaved (round by round, so background
    load hits all alike) on ``feeds`` (batch-1 examples), one thread (its CPU time); the least disturbed
    round decides, and a candidate must beat the default by :data:`MIN_GAIN` to replace it.
    """
    if target == "arm" or is_arm():
        return {"settings": validate(ARM_DEFAULT),
                "chosen_by": "default for ARM (not timed: see export.session_settings)"}
    if not feeds:
        raise ValueError("choose() needs at least one input to time")
    candidates = [validate(c) for c in candidates]
    ms = time_sessions([(path, c) for c in candidates], feeds, rounds, threads)
    winner = pick(ms)
    return {"settings": candidates[winner], "chosen_by": how_timed(len(feeds), rounds, threads),
            "timings_ms": {label(c): round(t, 4) for c, t in zip(candidates, ms, strict=True)}}


def time_sessions(pairs: Sequence[tuple[str | Path, dict[str, Any]]], feeds: Sequence[dict[str, np.ndarray]],
                  rounds: int = 7, threads: int = 1) -> list[float]:
    """Milliseconds per run of each (file, settings) pair on ``feeds``: interleaved, best round.

    With one thread ONNX Runtime computes on the calling thread, so that thread's CPU time is the cost of
    the run without the time other processes held the core (export runs on shared, loaded machines).
    """
    sessions = [session(path, settings, threads) for path, settings in pairs]
    for s in sessions:
        for feed in feeds[:2]:
            s.run(None, feed)  # first runs allocate
    clock = time.thread_time if threads == 1 else time.perf_counter
    per_round: list[list[float]] = [[] for _ in sessions]
    for _ in range(rounds):
        for i, s in enumerate(sessions):
            # Untimed: the first run after switching sessions pays for caches the others evicted (~0.3 ms
            # here whatever the model's size, benchmarks/int8_speed.py), which would blur a few-% difference.
            s.run(None, feeds[0])
            start = clock()
            for feed in feeds:
                s.run(None, feed)
            per_round[i].append((clock() - start) / len(feeds) * 1000.0)
    return [min(r) for r in per_round]  # the least disturbed round


def pick(ms: Sequence[float]) -> int:
    """Index of the fastest of ``ms``, or 0 (the reference) unless it is :data:`MIN_GAIN` faster."""
    best = min(range(len(ms)), key=ms.__getitem__)
    return best if ms[best] < ms[0] * (1.0 - MIN_GAIN) else 0


def how_timed(n_feeds: int, rounds: int, threads: int) -> str:
    return (f"timed on {platform.machine()} ({platform.processor() or 'cpu'}), {threads} thread, {n_feeds} inputs "
            f"x {rounds} interleaved rounds, best round of {'thread CPU' if threads == 1 else 'wall'} time; "
            f"min gain {MIN_GAIN:.0%}")

"""Batch-1 latency, measured interleaved so that the machine's drift hits every model alike.

Method (what the table's numbers mean):

1. Every model of a group (one thread count) is loaded (timed: *load*), run once (timed: *first
   inference*), then warmed up.
2. Rounds: each round visits every (model, sequence length) cell once, in a rotated order, and runs it
   for a short burst: one untimed run (so each timed run follows a run of the same model, as in an app
   classifying text after text, and not the previous model's cache state), then ``burst`` timed runs.
   The burst is sized (from the warm-up, then from the running median) so that each cell gets about
   ``min_seconds / min_runs`` of timed runs per round: every cell then needs about ``min_runs`` rounds.
3. Rounds continue until every cell has at least ``min_runs`` timed runs *and* ``min_seconds`` of timed
   runs (or ``max_group_seconds`` passes; then cells short of their minimum are flagged).
4. Only the runtime call is timed (``time.perf_counter`` around ``runner.run``): tokenization and feed
   construction happen once, before.

Percentiles are ``numpy.percentile`` (linear). A cell whose p90/p50 exceeds ``spread_limit`` is flagged
"unstable": its p50 is reported but should not be trusted alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .runtimes import Runner


@dataclass(frozen=True)
class LatencySettings:
    warmup: int = 3  # untimed runs after the first inference
    # R and T: the 12 MiniLM sub-models x 9 formats x 2 lengths make ~180 cells per thread count, so each
    # cell gets ~0.3 s of timed runs (more for slow ones: R runs) and the whole grid stays within minutes.
    min_runs: int = 15  # R
    min_seconds: float = 0.3  # T, per cell
    spread_limit: float = 1.5  # p90 / p50 above this flags the cell
    max_group_seconds: float = 240.0  # safety stop for one group of interleaved cells (a badly loaded machine)


@dataclass
class Cell:
    """One (model, runtime, threads, sequence length) measurement."""

    key: str
    runner: Runner
    feed: dict
    samples: list[float] = field(default_factory=list)
    load_seconds: float | None = None  # shared by all cells of one loaded model
    first_seconds: float | None = None  # the first inference after load, at this cell's length
    burst: int = 1
    error: str | None = None
    tag: object = None  # the caller's own key for the cell

    @property
    def total(self) -> float:
        return float(sum(self.samples))


def summarize(samples: list[float], spread_limit: float = 1.5) -> dict:
    """p50/p90/p99 (ms), mean, min, max, n and the spread flag of one cell's timings (seconds)."""
    if not samples:
        return {"n": 0}
    ms = np.asarray(samples, dtype=np.float64) * 1000.0
    p50, p90, p99 = (float(np.percentile(ms, q)) for q in (50, 90, 99))
    spread = p90 / p50 if p50 > 0 else math.inf
    return {"n": int(ms.size), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": float(ms.mean()),
            "min_ms": float(ms.min()), "max_ms": float(ms.max()), "spread": spread,
            "unstable": bool(spread > spread_limit)}


def spread_flag(p50_ms: float, p90_ms: float, limit: float = 1.5) -> bool:
    """True when runs spread too wide to trust the median alone (p90/p50 above ``limit``)."""
    return p50_ms <= 0 or p90_ms / p50_ms > limit


def _timed(runner: Runner, feed: dict) -> float:
    start = time.perf_counter()
    runner.run(feed)
    return time.perf_counter() - start


def prepare(cells: list[Cell], settings: LatencySettings) -> None:
    """First inference and warm-up of each cell; sizes its burst. A failing cell keeps its error."""
    for cell in cells:
        try:
            cell.first_seconds = _timed(cell.runner, cell.feed)
            warm = [_timed(cell.runner, cell.feed) for _ in range(max(1, settings.warmup))]
        except Exception as exc:  # a runtime that loads but cannot run this input: report, do not abort the grid
            cell.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            continue
        cell.burst = _burst(float(np.median(warm)), settings)


def _burst(estimate: float, settings: LatencySettings) -> int:
    per_round = settings.min_seconds / max(1, settings.min_runs)
    return max(1, math.ceil(per_round / max(estimate, 1e-6)))


def measure(cells: list[Cell], settings: LatencySettings,
            on_round: Callable[[int, float], None] | None = None) -> dict:
    """Interleaved rounds over ``cells`` (already prepared). Returns ``{"rounds", "seconds", "truncated"}``."""
    live = [c for c in cells if c.error is None]
    start = time.perf_counter()
    rounds = 0
    truncated = False
    while live:
        offset = rounds % len(live)
        for cell in live[offset:] + live[:offset]:
            try:
                cell.runner.run(cell.feed)  # untimed lead-in: see the module docstring
                for _ in range(cell.burst):
                    cell.samples.append(_timed(cell.runner, cell.feed))
            except Exception as exc:
                cell.error = f"{type(exc).__name__}: {exc}"
        rounds += 1
        live = [c for c in live if c.error is None]
        for cell in live:  # a warm-up on a busy machine may have misjudged the cell's speed
            cell.burst = _burst(float(np.median(cell.samples)), settings)
        done = all(len(c.samples) >= settings.min_runs and c.total >= settings.min_seconds for c in live)
        elapsed = time.perf_counter() - start
        if on_round is not None:
            on_round(rounds, elapsed)
        if done:
            break
        if elapsed > settings.max_group_seconds:
            truncated = True
            break
    return {"rounds": rounds, "seconds": time.perf_counter() - start, "truncated": truncated}

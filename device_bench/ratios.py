"""The "× full ONNX fp32" baseline: the one place that says what every such ratio divides by.

The baseline is the full (1.0, 1.0) sub-model's ONNX fp32 file on ``onnxruntime-cpu``, measured in the
same run at the same thread count and length (a phone's or another run's numbers are never mixed in).
The harness stores ``vs_full_onnx_fp32`` (t / t_baseline) per row; the headlines and the pick table
report speed-ups (t_baseline / t) against the same baseline from :func:`baseline_p50s`.
"""

from __future__ import annotations

from collections.abc import Iterable

BASELINE_FORMAT = "onnx"
BASELINE_RUNTIME = "onnxruntime-cpu"


def baseline_p50s(rows: Iterable[dict], full: str | None) -> dict[tuple[int, int], float]:
    """``{(threads, seq_len): p50 ms}`` of the baseline, from measured desktop rows."""
    if not full:
        return {}
    return {(r["threads"], r["seq_len"]): r["p50_ms"] for r in rows
            if r.get("status") == "ok" and r.get("device") is None and r.get("p50_ms")
            and r["subnet"] == full and r["format"] == BASELINE_FORMAT and r["runtime"] == BASELINE_RUNTIME}


def vs_baseline(p50_ms: float | None, baseline_ms: float | None) -> float | None:
    """t / t_baseline (below 1: faster than the full ONNX fp32 model); None when either is missing."""
    return p50_ms / baseline_ms if p50_ms and baseline_ms else None


def speedup(p50_ms: float | None, baseline_ms: float | None) -> float | None:
    """t_baseline / t: how many times faster than the full ONNX fp32 model; None when either is missing."""
    return baseline_ms / p50_ms if p50_ms and baseline_ms else None

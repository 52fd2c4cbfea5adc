"""The pick table: one row per sub-model, the first thing in ``table.md``, ``report.html`` and the CLI summary.

Each row: width, depth, the dev metric in PyTorch (``hf/``) and of the best INT8 file, the smallest
verified file and its deflated size, p50 latency per runtime (its fastest file there) at 1 thread and the
default length, the speed-up of the sub-model's fastest file over the full model's ONNX fp32 file on
onnxruntime-cpu, and marks for the rows with a file on the accuracy/latency or accuracy/size Pareto front.

Latency and metric are read exactly as ``pick`` reads them (:func:`device_bench.pick.candidates`: each
file on its own runtime, 1 thread, the longest measured length), so a front model's ``pick`` command
(:func:`pick_command`) selects that very file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .adb import APP_FORMATS
from .pick import Candidate, best, candidates
from .ratios import baseline_p50s, speedup
from .runtimes import RUNTIMES

#: Formats counted as "INT8" for the best-INT8 column (dynamic, static QDQ and weight-only).
INT8_PRECISIONS = ("int8", "int8-static", "int8-weights")


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (cost, value) not dominated by another (lower-or-equal cost and higher-or-equal value)."""
    front: list[tuple[float, float]] = []
    best_value = float("-inf")
    for cost, value in sorted(points, key=lambda p: (p[0], -p[1])):
        if value > best_value:
            front.append((cost, value))
            best_value = value
    return front


def front_ids(items: list[tuple[str, float, float]]) -> list[str]:
    """Ids of the (id, cost, value) items on the Pareto front, cheapest first (one id per front point)."""
    out, best_value = [], float("-inf")
    for ident, _cost, value in sorted(items, key=lambda t: (t[1], -t[2], t[0])):
        if value > best_value:
            out.append(ident)
            best_value = value
    return out


@dataclass
class PickRow:
    subnet: str
    width_mult: float
    depth_mult: float
    metric_pytorch: float | None = None
    metric_int8: float | None = None
    int8_artifact: str | None = None
    smallest: str | None = None  # artifact id of the smallest verified file
    bytes: int | None = None
    deflate_bytes: int | None = None
    p50: dict[str, tuple[float, str]] = field(default_factory=dict)  # runtime -> (p50 ms, artifact id)
    speedup: float | None = None
    speedup_artifact: str | None = None
    latency_front: list[str] = field(default_factory=list)  # artifact ids on the accuracy/latency front
    size_front: list[str] = field(default_factory=list)  # artifact ids on the accuracy/size front


@dataclass
class PickTable:
    metric_name: str
    seq_len: int | None
    runtimes: list[str]
    rows: list[PickRow]
    latency_front: list[str]  # artifact ids, fastest first
    size_front: list[str]  # artifact ids, smallest first
    candidates: dict[str, Candidate]
    results: dict  # what it was built from: pick_command re-runs pick on it


def _usable(results: dict) -> list[Candidate]:
    """pick's view of every file that passed (or skipped) verification, latency on its own runtime."""
    return [c for c in candidates(results) if c.artifact.get("export_status") != "failed"]


def build(results: dict) -> PickTable:
    rows_ok = [r for r in results["rows"] if r.get("status") == "ok" and r.get("device") is None
               and r.get("export_status") != "failed"]
    seq = max((r["seq_len"] for r in rows_ok), default=None)
    one = [r for r in rows_ok if r["threads"] == 1 and r["seq_len"] == seq]
    order = {name: i for i, name in enumerate(RUNTIMES)}
    runtimes = sorted({r["runtime"] for r in one}, key=lambda name: (order.get(name, len(order)), name))
    full = results.get("full_subnet")
    ref = baseline_p50s(one, full).get((1, seq))
    cands = _usable(results)
    by_id = {c.artifact["id"]: c for c in cands}
    lat_front = front_ids([(c.artifact["id"], c.p50_ms, c.metric) for c in cands
                           if c.metric is not None and c.p50_ms is not None])
    size_front = front_ids([(c.artifact["id"], float(c.artifact.get("bytes") or 0), c.metric) for c in cands
                            if c.metric is not None and c.artifact.get("bytes")])

    subnets = results.get("subnets") or []
    names = [s["name"] for s in subnets] or list(dict.fromkeys(a["subnet"] for a in results["artifacts"]))
    mults = {s["name"]: (s["width_mult"], s["depth_mult"]) for s in subnets}
    for a in results["artifacts"]:
        mults.setdefault(a["subnet"], (a["width_mult"], a["depth_mult"]))
    out = []
    for name in sorted(names, key=lambda n: (-mults[n][0], -mults[n][1], n)):
        row = PickRow(name, *mults[name])
        arts = [a for a in results["artifacts"] if a["subnet"] == name]
        hf = next((a for a in arts if a["format"] == "hf"), None)
        row.metric_pytorch = hf.get("metric") if hf else None
        int8 = [a for a in arts if a["precision"] in INT8_PRECISIONS and a.get("metric") is not None
                and a.get("export_status") != "failed"]
        if int8:
            top = max(int8, key=lambda a: a["metric"])
            row.metric_int8, row.int8_artifact = top["metric"], top["id"]
        files = [a for a in arts if a["format"] != "hf" and a.get("export_status") == "passed" and a.get("bytes")]
        if files:
            small = min(files, key=lambda a: a["bytes"])
            row.smallest, row.bytes, row.deflate_bytes = small["id"], small["bytes"], small.get("deflate_bytes")
        mine = [r for r in one if r["subnet"] == name]
        for runtime in runtimes:
            there = [r for r in mine if r["runtime"] == runtime]
            if there:
                fastest = min(there, key=lambda r: r["p50_ms"])
                row.p50[runtime] = (fastest["p50_ms"], fastest["artifact"])
        if mine and ref:
            fastest = min(mine, key=lambda r: r["p50_ms"])
            row.speedup, row.speedup_artifact = speedup(fastest["p50_ms"], ref), fastest["artifact"]
        row.latency_front = [i for i in lat_front if by_id[i].artifact["subnet"] == name]
        row.size_front = [i for i in size_front if by_id[i].artifact["subnet"] == name]
        out.append(row)
    return PickTable(results.get("metric_name", "metric"), seq, runtimes, out, lat_front, size_front, by_id,
                     results)


# ---------------------------------------------------------------------------------------------- pick commands


def _ceil_text(value: float, digits: int) -> str:
    """``value`` rounded up to ``digits`` significant digits, as text that parses back to >= ``value``."""
    if value <= 0:
        return format(value, "g")
    scale = 10 ** (digits - 1 - math.floor(math.log10(value)))
    text = format(math.ceil(value * scale) / scale, f".{digits}g")
    return text if float(text) >= value else repr(value)


def pick_command(table: PickTable, artifact_id: str, results_path: str, app_dir: str = "android_demo") -> str | None:
    """The ``python -m device_bench.pick`` command that selects ``artifact_id`` (and installs it into the
    app when the app can run it), or None when no latency/size budget singles it out.

    The budgets are the file's own p50 and size, rounded up by as few digits as still select this file:
    checked with pick's own :func:`candidates` and :func:`best`, so the printed command is the one that works.
    """
    cand = table.candidates[artifact_id]
    app = cand.artifact["format"] in APP_FORMATS
    on_lat, on_size = artifact_id in table.latency_front, artifact_id in table.size_front
    plans = ([("lat",)] if on_lat else []) + ([("mb",)] if on_size else []) + [("lat", "mb")]
    for keys in plans:
        if "lat" in keys and cand.p50_ms is None:
            continue
        for digits in range(3, 18):
            lat = _ceil_text(cand.p50_ms, digits) if "lat" in keys else None
            mb = _ceil_text(cand.mb, digits) if "mb" in keys else None
            chosen = best(candidates(table.results, max_latency_ms=None if lat is None else float(lat),
                                     max_mb=None if mb is None else float(mb), app_only=app))
            if chosen is not None and chosen.artifact["id"] == artifact_id:
                parts = ["python -m device_bench.pick", f"--results {results_path}"]
                if lat is not None:
                    parts.append(f"--max-latency-ms {lat}")
                if mb is not None:
                    parts.append(f"--max-mb {mb}")
                if app:
                    parts.append(f"--install-into {app_dir}")
                return " ".join(parts)
    return None

"""``table.md`` and ``table.csv`` from ``results.json``'s rows, plus the headline ratios.

One row per artifact x runtime x threads x sequence length in the CSV (and in results.json); the
Markdown has the same latency rows, preceded by one accuracy/size row per artifact. A runtime that did
not run shows "n/a" and the reason, never a number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from . import pick_table as P
from .io import write_text
from .ratios import baseline_p50s, speedup

CSV_COLUMNS = [
    "artifact", "subnet", "width_mult", "depth_mult", "format", "precision", "runtime", "threads", "seq_len",
    "status", "reason", "n", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms", "spread", "unstable",
    "short", "load_ms", "first_inference_ms", "vs_full", "vs_full_onnx_fp32", "flops", "flops_ratio",
    "flops_efficiency", "peak_rss_bytes", "model_rss_bytes", "metric", "metric_vs_pytorch", "metric_vs_teacher",
    "bytes", "deflate_bytes", "params_embeddings", "params_encoder", "params_head", "export_status", "device",
    "vocab_size", "bytes_embeddings", "bytes_encoder", "bytes_head",
]


def _num(value, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ms(value) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _mb(value) -> str:
    return "—" if value is None else f"{value / 1e6:.2f}"


def _pts(value) -> str:
    return "—" if value is None else f"{100 * value:+.2f}"


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _split(artifact: dict) -> str:
    """Megabytes of the file's embeddings / encoder / head tensors (device_bench.weights), or — where unnamed."""
    parts = [artifact.get(f"bytes_{part}") for part in ("embeddings", "encoder", "head")]
    return "—" if None in parts else " / ".join(_mb(n) for n in parts)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def _flag(row: dict) -> str:
    flags = []
    if row.get("unstable"):
        flags.append(f"UNSTABLE p90/p50={row['spread']:.2f}")
    if row.get("short"):
        flags.append("fewer runs than asked (time cap)")
    if row.get("export_status") == "failed":
        flags.append("export verification FAILED")
    return "; ".join(flags)


def headlines(results: dict) -> list[str]:
    """The issue's three performance checks, as measured (numbers reported, never asserted)."""
    rows = [r for r in results["rows"] if r.get("status") == "ok" and r.get("device") is None]
    if not rows:
        return ["no latency was measured"]
    full = results.get("full_subnet")
    seq = max(r["seq_len"] for r in rows)

    def p50(subnet, fmt, runtime, threads):
        for r in rows:
            if (r["subnet"], r["format"], r["runtime"], r["threads"], r["seq_len"]) == (subnet, fmt, runtime,
                                                                                      threads, seq):
                return r["p50_ms"]
        return None

    lines = []
    small = min(results["subnets"], key=lambda s: (s["width_mult"] * s["depth_mult"], s["width_mult"]))["name"]
    ref = baseline_p50s(rows, full).get((1, seq))
    for fmt, runtime in (("onnx-int8", "onnxruntime-cpu"), ("ort-int8", "onnxruntime-mobile"),
                         ("pte-int8", "executorch-xnnpack")):
        faster = speedup(p50(small, fmt, runtime, 1), ref)
        if faster:
            lines.append(f"{small} {fmt} ({runtime}, 1 thread, seq {seq}): {faster:.2f}x faster than {full} "
                         f"ONNX fp32 (target >= 8x)")
    effs = [r for r in rows if r.get("flops_efficiency") is not None]
    if effs:
        share = sum(r["flops_efficiency"] >= 0.75 for r in effs)
        worst = min(effs, key=lambda r: r["flops_efficiency"])
        lines.append(f"{share}/{len(effs)} sub-model latency rows reach >= 75% of their FLOPs-ideal speed-up over "
                     f"the full model in the same format/runtime/threads/length; worst "
                     f"{100 * worst['flops_efficiency']:.0f}% ({worst['artifact']}, {worst['runtime']}, "
                     f"{worst['threads']}t, seq {worst['seq_len']})")
        for fmt in sorted({r["format"] for r in effs}):
            sel = [r for r in effs if r["format"] == fmt and r["seq_len"] == seq]
            if sel:
                lines.append(f"  {fmt} at seq {seq}: median FLOPs-ideal share "
                             f"{100 * sorted(r['flops_efficiency'] for r in sel)[len(sel) // 2]:.0f}%, "
                             f"min {100 * min(r['flops_efficiency'] for r in sel):.0f}%")
    for threads in sorted({r["threads"] for r in rows if r["runtime"] == "onnxruntime-cpu"}):
        fp32, int8 = p50(full, "onnx", "onnxruntime-cpu", threads), p50(full, "onnx-int8", "onnxruntime-cpu", threads)
        if fp32 and int8:
            lines.append(f"{full} ONNX INT8 vs fp32 ({threads} thread(s), seq {seq}): {fp32 / int8:.2f}x faster "
                         f"(target >= 1.5x)")
    metric = {(a["subnet"], a["format"]): a.get("metric") for a in results["artifacts"]}
    fp32_m, int8_m = metric.get((full, "onnx")), metric.get((full, "onnx-int8"))
    if fp32_m is not None and int8_m is not None:
        lines.append(f"{full} ONNX INT8 {results['metric_name']} {100 * int8_m:.2f} vs fp32 {100 * fp32_m:.2f}: "
                     f"{100 * (int8_m - fp32_m):+.2f} points")
    return lines


def markdown(results: dict) -> str:
    env = results["environment"]
    st = results["settings"]
    metric = results["metric_name"]
    out = [f"# device_bench: {results['task']} — {len(results['artifacts'])} artifacts", ""]
    first, *long_tables = tables(results)
    out += [f"## {first.title}", ""] + first.markdown() + ["", "## How this was measured", ""]
    out.append(f"- manifest: `{results['manifest']}`; created {results['created']}; wall time "
               f"{results['wall_seconds']:.0f} s")
    out.append(f"- machine: {env['cpu']}, {env['cores']} cores, {env['platform']}; "
               + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    loads = [env.get("loadavg_at_start"), env.get("loadavg_at_end")]
    if any(loads):
        busy = any(load and load[0] > (env.get("cores") or 1) for load in loads)
        out.append(f"- load average (1, 5, 15 min): {loads[0]} at start, {loads[1]} at end, on {env['cores']} cores"
                   + ("; above the core count other processes competed for the CPU: latencies are noisy" if busy
                      else ""))
    out.append(f"- latency: batch 1, seq {', '.join(map(str, st['seq_lens']))}; warm-up: {st['warmup']} run(s), then "
               f"interleaved rounds until >= {st['min_runs']} runs and >= {st['min_seconds']} s per cell; only the "
               f"runtime call is timed; p90/p50 > {st['spread_limit']} is flagged UNSTABLE")
    if st.get("seq_note"):
        out.append(f"- {st['seq_note']}")
    dev = results.get("dev")
    if dev:
        over = f"{dev['examples']} dev examples"
        if dev.get("sampling"):  # --accuracy-limit: say so, next to every number it produced
            over = (f"a SAMPLE of {dev['examples']} of the {dev.get('total_examples')} dev examples "
                    f"({dev['sampling']}; --accuracy-limit)")
        out.append(f"- dev metric: {metric} (×100) over {over} of `{dev['path']}`, each file in its own runtime")
    else:
        out.append(f"- dev metric: not run: {results.get('dev_reason')}")
    teacher = results["teacher_metric"]
    out.append(f"- Δ teacher: against {_pct(teacher.get('value'))} — {teacher['source']}; Δ PyTorch: against the "
               f"same sub-network's hf/ checkpoint in PyTorch")
    out.append("- × full: p50 over the full (1.0, 1.0) model's p50 in the same format, runtime, threads and length, "
               "measured in the same interleaved run; × ONNX fp32: over the full ONNX fp32 model on "
               "onnxruntime-cpu; FLOPs share: (t_full / t) / (FLOPs_full / FLOPs), 100% = the FLOPs-ideal speed-up")
    out.append(f"- peak RSS: {results['rss_method']}")
    android = results.get("android") or {}
    out.append(f"- Android phone: {android.get('status', 'not run')}"
               + (f": {android['reason']}" if android.get("reason") else ""))
    for s in results.get("skipped", []):
        out.append(f"- skipped {s['id']}: {s['reason']} ({'; '.join(s.get('errors') or [])})")
    out += ["", "## Headline ratios", ""] + [f"- {line}" for line in headlines(results)]
    for t in long_tables:
        out += ["", f"## {t.title}", ""] + t.markdown()
    return "\n".join(out) + "\n"


@dataclass
class Table:
    """One table, rendered as Markdown here and as a sortable, filterable HTML table by the report."""

    title: str
    header: list[str]
    align: str  # one "l" or "r" per column
    rows: list[list[str]] = field(default_factory=list)
    #: per row, what the report's filters match on (runtime, precision, threads, seq)
    attrs: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines under the title

    def markdown(self) -> list[str]:
        lines = [*self.notes, ""] if self.notes else []
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---:" if a == "r" else "---" for a in self.align) + "|")
        lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in self.rows]
        return lines


def _art(artifact_id: str | None) -> str:
    """The format part of an artifact id (``w1_d1/onnx-int8`` -> ``onnx-int8``)."""
    return "" if not artifact_id else artifact_id.split("/", 1)[-1]


def pick_table(results: dict, pt: P.PickTable | None = None) -> Table:

    pt = pt or P.build(results)
    seq = pt.seq_len
    header = ["sub-model", "width", "depth", f"{pt.metric_name} PyTorch", "best INT8", "smallest file", "MB",
              "MB deflate"] + [f"p50 ms {r}" for r in pt.runtimes] + ["× full fp32", "Pareto front"]
    t = Table("Pick table (one row per sub-model)", header, "lrrrrlrr" + "r" * len(pt.runtimes) + "rl")
    measured = (f"p50 at 1 thread and seq {seq}, the sub-model's fastest file on each runtime (named in brackets)"
                if seq is not None else "no latency was measured")
    t.notes = [f"{measured}; "
               f"× full fp32: that fastest file's speed-up over the full model's ONNX fp32 on onnxruntime-cpu; "
               f"smallest file: the smallest verified one; Pareto front: the sub-model has a file nothing else "
               f"beats on both {pt.metric_name} and latency (own runtime) or size; "
               f"`python -m device_bench.pick` chooses among them"]
    for r in pt.rows:
        int8 = "—" if r.metric_int8 is None else f"{_pct(r.metric_int8)} ({_art(r.int8_artifact)})"
        lat = []
        for runtime in pt.runtimes:
            v = r.p50.get(runtime)
            lat.append("—" if v is None else f"{_ms(v[0])} ({_art(v[1])})")
        front = ", ".join(x for x, ids in (("latency", r.latency_front), ("size", r.size_front)) if ids)
        speed = "—" if r.speedup is None else f"{r.speedup:.2f}× ({_art(r.speedup_artifact)})"
        t.rows.append([r.subnet, f"{r.width_mult:g}", f"{r.depth_mult:g}", _pct(r.metric_pytorch), int8,
                       _art(r.smallest) or "—", _mb(r.bytes), _mb(r.deflate_bytes), *lat, speed, front])
        t.attrs.append({})
    return t


def tables(results: dict) -> list[Table]:
    """The pick table, then the long tables (accuracy/size per artifact, latency per measured cell)."""
    metric = results["metric_name"]
    acc = Table("Accuracy and size (one row per artifact)",
                ["artifact", "format", "precision", metric, "Δ PyTorch", "Δ teacher", "MB", "MB deflate",
                 "params emb / enc / head (M)", "vocab", "MB emb / enc / head", "accuracy runtime"], "lllrrrrrlrll")
    for a in results["artifacts"]:
        accr = a.get("accuracy") or {}
        rows = [r for r in results["rows"] if r["artifact"] == a["id"]]
        d_pt = next((r["metric_vs_pytorch"] for r in rows if r.get("metric_vs_pytorch") is not None), None)
        d_t = next((r["metric_vs_teacher"] for r in rows if r.get("metric_vs_teacher") is not None), None)
        p = a.get("params") or {}
        params = (f"{p['embeddings'] / 1e6:.2f} / {p['encoder'] / 1e6:.2f} / {p['head'] / 1e6:.3f}"
                  if p.get("embeddings") is not None else "—")
        shown = _pct(accr.get("metric")) if accr.get("status") == "ok" else f"not run: {accr.get('reason')}"
        if accr.get("status") == "error":
            shown = f"error: {accr.get('reason')}"
        flag = " (export FAILED)" if a.get("export_status") == "failed" else ""
        acc.rows.append([f"{a['id']}{flag}", a["format"], a["precision"], shown, _pts(d_pt), _pts(d_t),
                         _mb(a.get("bytes")), _mb(a.get("deflate_bytes")), params, _num(a.get("vocab_size")),
                         _split(a), accr.get("runtime", "—")])
        acc.attrs.append({"precision": a["precision"], "runtime": accr.get("runtime") or ""})

    lat = Table("Latency (one row per artifact × runtime × threads × sequence length)",
                ["artifact", "runtime", "threads", "seq", "p50 ms", "p90 ms", "p99 ms", "× full", "× ONNX fp32",
                 "FLOPs share", "GFLOPs", "load ms", "first ms", "peak RSS MB", "model RSS MB", "flags / reason"],
                "llrrrrrrrrrrrrrl")
    for r in results["rows"]:
        runtime = r["runtime"] + (f" ({r['device']})" if r.get("device") else "")
        threads = r["threads"] or "default"
        gflops = "—" if r.get("flops") is None else f"{r['flops'] / 1e9:.3f}"
        lat.attrs.append({"runtime": runtime, "precision": r.get("precision") or "", "threads": str(threads),
                          "seq": str(r["seq_len"])})
        if r["status"] != "ok":
            lat.rows.append([r["artifact"], runtime, str(threads), str(r["seq_len"]), "n/a", "n/a", "n/a", "—", "—",
                             "—", gflops, "—", "—", "—", "—", r.get("reason") or ""])
            continue
        eff = "—" if r.get("flops_efficiency") is None else f"{100 * r['flops_efficiency']:.0f}%"
        lat.rows.append([r["artifact"], runtime, str(threads), str(r["seq_len"]), _ms(r["p50_ms"]), _ms(r["p90_ms"]),
                         _ms(r.get("p99_ms")), _ratio(r.get("vs_full")), _ratio(r.get("vs_full_onnx_fp32")), eff,
                         gflops, _ms(r.get("load_ms")), _ms(r.get("first_inference_ms")),
                         _mb(r.get("peak_rss_bytes")), _mb(r.get("model_rss_bytes")), _flag(r)])
    return [pick_table(results), acc, lat, *bundle_tables(results)]


def bundle_tables(results: dict) -> list[Table]:
    """One table per shared-weight bundle (device_bench.bundle_bench): each entry beside its standalone file."""
    out = []
    for b in results.get("bundles") or []:
        if b.get("skipped"):
            continue
        size, switch = b["size"], b.get("switch") or {}
        latency = {r["entry"]: r for r in b.get("latency") or []}
        accuracy = {r["entry"]: r for r in b.get("accuracy") or []}
        t = Table(f"Bundle {b['format']}: {len(b['entries'])} sub-networks in {_mb(size['bundle_bytes'])} MB "
                  f"({_ratio(size.get('ratio_to_full'))} the full standalone file, "
                  f"{_ratio(size.get('ratio_to_sum'))} the sum of all)",
                  ["entry", "reads MB", "share of weights", "standalone MB", "accuracy", "standalone accuracy",
                   "agreement", "p50 ms", "standalone p50 ms", "× standalone"], "lrrrrrrrrr")
        for e in size["entries"]:
            lat, accr = latency.get(e["entry"], {}), accuracy.get(e["entry"], {})
            t.rows.append([e["entry"], _mb(e["reads_bytes"]), f"{100 * e['reads_share']:.0f}%",
                           _mb(e.get("standalone_bytes")), _pct(accr.get("bundle_accuracy")),
                           _pct(accr.get("standalone_accuracy")), _pct(accr.get("argmax_agreement")),
                           _ms(lat.get("bundle_p50_ms")), _ms(lat.get("standalone_p50_ms")), _ratio(lat.get("ratio"))])
            t.attrs.append({"precision": b.get("precision") or "", "runtime": "onnxruntime-cpu"})
        on_demand, preloaded = switch.get("on_demand") or {}, switch.get("preloaded") or {}
        t.notes.append(f"switching entries (seq {switch.get('seq')}, 1 thread): session created on demand "
                       f"{_ms(on_demand.get('p50_to_first_result_ms'))} ms to the first result, sessions preloaded "
                       f"{_ms(preloaded.get('p50_to_first_result_ms'))} ms")
        for m in b.get("memory") or []:
            if "error" in m:
                t.notes.append(f"peak RSS: {m['error']}")
                break
            t.notes.append(f"peak RSS, {m['entries']} entr{'y' if m['entries'] == 1 else 'ies'} loaded "
                           f"({m['kind']}): {_mb(m.get('peak_rss_bytes'))} MB")
        out.append(t)
    return out


def summary(results: dict) -> str:
    """What ``python -m device_bench`` prints when done: the pick table, then the headline ratios."""
    t = pick_table(results)
    return "\n".join([t.title + ":", *t.markdown(), "", *headlines(results)]) + "\n"


def write_all(results: dict, out: Path) -> None:
    write_text(out / "table.md", markdown(results))
    write_text(out / "table.csv", csv_text(results["rows"]))

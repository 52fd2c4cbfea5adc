"""The benchmark run: manifest in; accuracy, size, latency and memory of every artifact out.

    from device_bench.harness import run
    results = run("out/export/ckpt/manifest.json")              # writes out/export/ckpt/bench/
    results = run(manifest, out_dir="bench", fast=True)         # CI settings: a few seconds per group

Phases, in this order so that nothing else competes with the latency measurements:

1. read and check the manifest (every listed file exists and has its recorded SHA-256);
2. accuracy over the whole dev set (each file in its own runtime, 1 thread each, ``jobs`` files at a
   time) and deflate sizes, in a pool of ``jobs`` workers; cached by file SHA-256 + dev-set fingerprint;
3. latency, one group per thread count, every model of the group interleaved (see ``latency.py``);
4. peak RSS, one forked process per model (see ``memory.py``);
5. the Android phone over adb, when one is attached (see ``adb.py``);
6. ``results.json``, ``table.md``, ``table.csv``, ``report.html`` (+ PNGs), each written atomically.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import gc
import json
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from dynabert import runtimes as catalogue
from dynabert.files.results import RESULTS_NAME, RESULTS_SCHEMA, write_results

from . import accuracy as acc
from . import latency as lat
from . import memory, runtimes, size
from .io import write_json
from .manifest_reader import Artifact, BenchError, Manifest, read_manifest
from .ratios import baseline_p50s, vs_baseline

#: Bump when the accuracy or size computation changes, so cached numbers are not reused.
_CACHE_VERSION = 1


@dataclass(frozen=True)
class BenchSettings:
    seq_lens: tuple[int, ...] = (32, 128)
    cpu_threads: tuple[int, ...] = ()  # empty: (1, all cores)
    mobile_threads: tuple[int, ...] = (1, 2)
    latency: lat.LatencySettings = field(default_factory=lat.LatencySettings)
    accuracy: bool = True
    accuracy_limit: int | None = None  # a stratified sample of N dev examples (None: the whole dev set)
    deflate: bool = True
    rss: bool = True
    formats: tuple[str, ...] | None = None  # None: every format in the manifest
    runtimes: tuple[str, ...] | None = None  # None: every runtime that serves an artifact
    jobs: int = 0  # workers for accuracy and sizes (0: all cores)
    include_failed: bool = False  # also measure artifacts that failed export verification (flagged)
    cache: bool = True

    def cpu_thread_counts(self) -> tuple[int, ...]:
        return self.cpu_threads or tuple(sorted({1, os.cpu_count() or 1}))

    def threads_for(self, runtime: str) -> tuple[int, ...]:
        kind = runtimes.RUNTIMES[runtime].threads
        if kind == "cpu":
            return self.cpu_thread_counts()
        if kind == "mobile":
            return self.mobile_threads
        return (0,)


#: CI settings: every code path, a few seconds per group.
FAST = BenchSettings(latency=lat.LatencySettings(warmup=1, min_runs=5, min_seconds=0.02, max_group_seconds=60.0),
                     deflate=True, rss=True)


def _log(message: str) -> None:
    print(f"device_bench: {message}", file=sys.stderr, flush=True)


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="job", disable=not progress, dynamic_ncols=True, leave=False)


# ---------------------------------------------------------------------------------------------- environment


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for dist in ("onnxruntime", "torch", "transformers", "executorch", "coremltools", "numpy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment() -> dict:
    # The load average says how busy the machine was: on a shared machine it explains noisy latencies.
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": _cpu_model(),
            "cores": os.cpu_count(), "versions": _versions(), "loadavg_at_end": _loadavg()}


# ---------------------------------------------------------------------------------------------- model facts


def _model_facts(manifest: Manifest, seq_lens: tuple[int, ...]) -> dict[str, dict]:
    """Parameters and FLOPs per sub-model, from its ``hf/config.json`` via ``dynabert.stats.model_stats``."""
    from transformers import AutoConfig

    from dynabert.stats import size_facts

    facts: dict[str, dict] = {}
    for subnet in manifest.subnets:
        name = subnet["name"]
        hf_dir = manifest.hf_dir(name)
        record: dict = {"name": name, "width_mult": float(subnet["width_mult"]),
                        "depth_mult": float(subnet["depth_mult"]), "flops": {}}
        if hf_dir is not None and (hf_dir / "config.json").is_file():
            record.update(size_facts(AutoConfig.from_pretrained(hf_dir), (*seq_lens, 128)))
        else:  # no hf/ to read: the manifest's own numbers (seq 128 only)
            record["params"] = subnet.get("params")
            if subnet.get("flops_seq128"):
                record["flops"][128] = subnet["flops_seq128"]
        facts[name] = record
    return facts


# ---------------------------------------------------------------------------------------------- accuracy + size


class _Cache:
    """Accuracy and deflate sizes keyed by the file's SHA-256 (and the dev set): re-runs skip them."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        self.lock = threading.Lock()
        self.data: dict = {}
        if enabled and path.is_file():
            try:
                loaded = json.loads(path.read_text())
                # A cache of another version or shape (edited, or from another tool) is ignored, not trusted.
                if isinstance(loaded, dict) and loaded.get("version") == _CACHE_VERSION and isinstance(
                        loaded.get("entries"), dict):
                    self.data = loaded["entries"]
            except (OSError, ValueError):
                self.data = {}

    def get(self, key: str):
        return self.data.get(key) if self.enabled else None

    def put(self, key: str, value) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.data[key] = value
            write_json(self.path, {"version": _CACHE_VERSION, "entries": self.data})


def _accuracy_job(artifact: Artifact, runtime: str, dev: acc.DevSet) -> dict:
    runner = runtimes.load(runtime, artifact, 1)
    try:
        return acc.evaluate(runner, artifact, dev)
    finally:
        runner.close()


def _weight_split(a: Artifact) -> dict:
    """Bytes of embeddings / encoder / head and the vocabulary size, read from the file (device_bench.weights)."""
    from .weights import weight_split

    try:
        return weight_split(a.path) or {}
    except Exception as exc:  # an unreadable split must not sink the table: the row says why
        return {"weight_split_error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def _accuracy_and_sizes(manifest: Manifest, artifacts: list[Artifact], dev: acc.DevSet | None,
                        dev_reason: str | None, settings: BenchSettings, cache: _Cache,
                        progress: bool) -> tuple[dict[str, dict], dict[str, dict]]:
    accuracy: dict[str, dict] = {}
    sizes: dict[str, dict] = {a.id: {"bytes": size.disk_bytes(a.path), **_weight_split(a)} for a in artifacts}
    jobs: dict[cf.Future, tuple[str, str, str | None]] = {}
    workers = settings.jobs or os.cpu_count() or 1
    runtimes.set_executorch_threads(1)
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        # Biggest files first: the long jobs start early instead of leaving one worker busy at the end.
        for a in sorted(artifacts, key=lambda a: -sizes[a.id]["bytes"]):
            runtime = catalogue.own_runtime(a.runtime) or a.runtime
            reason = runtimes.unavailable_reason(runtime)
            if not settings.accuracy:
                accuracy[a.id] = {"status": "not run", "reason": "accuracy disabled", "runtime": runtime}
            elif reason:
                accuracy[a.id] = {"status": "not run", "reason": reason, "runtime": runtime}
            elif dev is None:
                accuracy[a.id] = {"status": "not run", "reason": dev_reason, "runtime": runtime}
            else:
                key = f"acc|{a.sha256}|{runtime}|{dev.fingerprint}" if a.sha256 else None
                hit = cache.get(key) if key else None
                if isinstance(hit, dict):
                    accuracy[a.id] = {**hit, "cached": True}
                else:
                    jobs[pool.submit(_accuracy_job, a, runtime, dev)] = ("acc", a.id, key)
                    accuracy[a.id] = {"runtime": runtime}
            if settings.deflate:
                key = f"deflate|{a.sha256}|{size.DEFLATE_LEVEL}" if a.sha256 else None
                hit = cache.get(key) if key else None
                if isinstance(hit, int):
                    sizes[a.id]["deflate_bytes"] = hit
                else:
                    jobs[pool.submit(size.deflate_bytes, a.path)] = ("deflate", a.id, key)
        bar = _bar(len(jobs), "accuracy + sizes", progress)
        try:
            for future in cf.as_completed(jobs):
                kind, art_id, key = jobs[future]
                bar.update(1)
                try:
                    value = future.result()
                except BenchError as exc:
                    value = exc
                except Exception as exc:  # one broken file must not sink the table: it gets an error row
                    value = BenchError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                if kind == "deflate":
                    if isinstance(value, Exception):
                        sizes[art_id]["deflate_error"] = str(value)
                    else:
                        sizes[art_id]["deflate_bytes"] = value
                        if key:
                            cache.put(key, value)
                elif isinstance(value, Exception):
                    accuracy[art_id] = {**accuracy[art_id], "status": "error", "reason": str(value)}
                    _log(f"accuracy of {art_id} failed: {value}")
                else:
                    record = {**accuracy[art_id], "status": "ok", **value}
                    accuracy[art_id] = record
                    if key:
                        cache.put(key, record)
        except BaseException:
            for future in jobs:
                future.cancel()
            raise
        finally:
            bar.close()
    return accuracy, sizes


# ---------------------------------------------------------------------------------------------- latency


@dataclass
class _Planned:
    artifact: Artifact
    runtime: str
    threads: int
    seq_len: int
    reason: str | None = None  # n/a reason; None: to be measured


def _plan(artifacts: list[Artifact], settings: BenchSettings) -> list[_Planned]:
    plan = []
    for a in artifacts:
        for runtime in runtimes.runtimes_for(a):
            if settings.runtimes is not None and runtime not in settings.runtimes:
                continue
            reason = runtimes.unavailable_reason(runtime)
            for threads in settings.threads_for(runtime):
                for seq in settings.seq_lens:
                    why = reason
                    if why is None and a.max_length and seq > a.max_length:
                        why = f"seq {seq} > the file's max_length {a.max_length}"
                    plan.append(_Planned(a, runtime, threads, seq, why))
    return plan


def _latency(plan: list[_Planned], inputs: dict[int, dict], settings: BenchSettings,
             progress: bool) -> tuple[dict[tuple, dict], list[dict]]:
    """Measure every runnable planned cell; one interleaved group per thread count."""
    results: dict[tuple, dict] = {}
    groups_info = []
    runnable = [p for p in plan if p.reason is None]
    for threads in sorted({p.threads for p in runnable}):
        members = [p for p in runnable if p.threads == threads]
        cells: list[lat.Cell] = []
        loaded: dict[tuple[str, str], tuple[runtimes.Runner | None, float | None, str | None]] = {}
        runtimes.set_executorch_threads(threads if threads > 0 else 1)
        bar = _bar(len({(p.artifact.id, p.runtime) for p in members}), f"load ({threads} thread(s))", progress)
        for p in members:
            model_key = (p.artifact.id, p.runtime)
            if model_key not in loaded:
                start = time.perf_counter()
                try:
                    runner = runtimes.load(p.runtime, p.artifact, threads)
                    loaded[model_key] = (runner, time.perf_counter() - start, None)
                except Exception as exc:  # reported as this model's error rows
                    loaded[model_key] = (None, None, f"load failed: {type(exc).__name__}: {exc}")
                bar.update(1)
            runner, load_s, error = loaded[model_key]
            key = (p.artifact.id, p.runtime, p.threads, p.seq_len)
            if runner is None:
                results[key] = {"status": "error", "reason": error}
                continue
            feed = runtimes.make_feed(p.artifact, inputs[p.seq_len])
            cells.append(lat.Cell(key="|".join(map(str, key)), runner=runner, feed=feed, load_seconds=load_s, tag=key))
        bar.close()
        lat.prepare(cells, settings.latency)
        bar = _bar(0, f"latency ({threads} thread(s), {len(cells)} cells)", progress)
        info = lat.measure(cells, settings.latency,
                           on_round=lambda r, s, bar=bar: (bar.update(1), bar.set_postfix_str(f"{s:.0f} s")))
        bar.close()
        groups_info.append({"threads": threads, "cells": len(cells), **info})
        for cell in cells:
            key = cell.tag
            if cell.error:
                results[key] = {"status": "error", "reason": cell.error}
                continue
            stats = lat.summarize(cell.samples, settings.latency.spread_limit)
            short = stats["n"] < settings.latency.min_runs or cell.total < settings.latency.min_seconds
            results[key] = {"status": "ok", **stats, "load_ms": 1000 * cell.load_seconds,
                            "first_inference_ms": 1000 * cell.first_seconds, "burst": cell.burst,
                            "short": bool(short)}
        for runner, _, _ in loaded.values():
            if runner is not None:
                runner.close()
        del cells, loaded
        gc.collect()
    return results, groups_info


# ---------------------------------------------------------------------------------------------- derived numbers


def _derive_rows(manifest: Manifest, plan: list[_Planned], measured: dict[tuple, dict], rss: dict[str, dict],
                 rss_reason: str | None, facts: dict[str, dict], accuracy: dict[str, dict], sizes: dict[str, dict],
                 teacher: dict) -> list[dict]:
    full = manifest.full_subnet
    p50 = {k: v["p50_ms"] for k, v in measured.items() if v.get("status") == "ok"}
    by_id = {a.id: a for a in manifest.artifacts}
    hf_metric = {a.subnet: accuracy.get(a.id, {}).get("metric") for a in manifest.artifacts if a.format == "hf"}
    rows = []
    for p in plan:
        a = p.artifact
        key = (a.id, p.runtime, p.threads, p.seq_len)
        m = measured.get(key) or {}
        fact = facts.get(a.subnet, {})
        flops = fact.get("flops", {}).get(p.seq_len)
        full_flops = facts.get(full, {}).get("flops", {}).get(p.seq_len) if full else None
        row: dict = {"artifact": a.id, "subnet": a.subnet, "width_mult": a.width_mult, "depth_mult": a.depth_mult,
                     "format": a.format, "precision": a.precision, "runtime": p.runtime, "threads": p.threads,
                     "seq_len": p.seq_len}
        if p.reason is not None:
            row.update(status="n/a", reason=p.reason)
        elif m.get("status") != "ok":
            row.update(status="n/a", reason=m.get("reason") or "not measured")
        else:
            row.update(status="ok", reason=None)
            for k in ("n", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms", "spread", "unstable",
                      "load_ms", "first_inference_ms", "short"):
                row[k] = m.get(k)
        # Ratios to the full model measured in the same run (same runtime, threads and length).
        full_same = by_id.get(f"{full}/{a.format}") if full else None
        ref_same = p50.get((full_same.id, p.runtime, p.threads, p.seq_len)) if full_same else None
        mine = row.get("p50_ms") if row["status"] == "ok" else None
        row["vs_full"] = mine / ref_same if mine and ref_same else None
        row["vs_full_onnx_fp32"] = None  # filled in below, once every row is measured
        row["flops"] = flops
        row["flops_ratio"] = flops / full_flops if flops and full_flops else None
        # Share of the FLOPs-ideal speed-up reached: (t_full / t_sub) / (F_full / F_sub).
        if row["vs_full"] and row["flops_ratio"] and a.subnet != full:
            row["flops_efficiency"] = row["flops_ratio"] / row["vs_full"]
        else:
            row["flops_efficiency"] = None
        mem = rss.get(f"{a.id}|{p.runtime}") or {}
        if "peak_rss_bytes" in mem:
            row["peak_rss_bytes"] = mem["peak_rss_bytes"]
            row["model_rss_bytes"] = mem["model_rss_bytes"]
        else:
            row["peak_rss_bytes"] = row["model_rss_bytes"] = None
            row["rss_reason"] = mem.get("error") or rss_reason
        accr = accuracy.get(a.id, {})
        row["metric"] = accr.get("metric")
        row["metric_vs_pytorch"] = (accr["metric"] - hf_metric[a.subnet]
                                    if accr.get("metric") is not None and hf_metric.get(a.subnet) is not None else None)
        row["metric_vs_teacher"] = (accr["metric"] - teacher["value"]
                                    if accr.get("metric") is not None and teacher.get("value") is not None else None)
        row["bytes"] = sizes.get(a.id, {}).get("bytes")
        row["deflate_bytes"] = sizes.get(a.id, {}).get("deflate_bytes")
        for key in ("vocab_size", "bytes_embeddings", "bytes_encoder", "bytes_head"):
            row[key] = sizes.get(a.id, {}).get(key)
        params = fact.get("params") or {}
        row["params_embeddings"] = params.get("embeddings")
        row["params_encoder"] = params.get("encoder")
        row["params_head"] = params.get("head")
        row["export_status"] = a.status
        rows.append(row)
    baseline = baseline_p50s(rows, full)
    for row in rows:
        row["vs_full_onnx_fp32"] = vs_baseline(row.get("p50_ms"), baseline.get((row["threads"], row["seq_len"])))
    return rows


# ---------------------------------------------------------------------------------------------- run


def resolve_settings(fast: bool = False, settings: BenchSettings | None = None, **overrides) -> BenchSettings:
    """Start from ``settings`` (or the defaults, or :data:`FAST`), then apply non-None keyword overrides."""
    base = settings or (FAST if fast else BenchSettings())
    lat_fields = {"warmup", "min_runs", "min_seconds", "spread_limit", "max_group_seconds"}
    lat_over = {k: v for k, v in overrides.items() if k in lat_fields and v is not None}
    top = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()
           if k not in lat_fields and v is not None}
    unknown = set(top) - set(BenchSettings.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    result = replace(base, **top)
    if lat_over:
        result = replace(result, latency=replace(result.latency, **lat_over))
    _check_settings(result)
    return result


def _check_settings(cfg: BenchSettings) -> None:
    """The library's own check of every number (the CLI checks its options as it parses them)."""
    import math

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    def integer(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not cfg.seq_lens or not all(integer(s) and s >= 3 for s in cfg.seq_lens):
        raise BenchError(f"sequence lengths must be integers >= 3, got {cfg.seq_lens}")
    if not all(integer(t) and t >= 1 for t in (*cfg.cpu_threads, *cfg.mobile_threads)) or not cfg.mobile_threads:
        raise BenchError(f"thread counts must be integers >= 1, got cpu {cfg.cpu_threads}, mobile "
                         f"{cfg.mobile_threads}")
    if not integer(cfg.jobs) or cfg.jobs < 0:
        raise BenchError(f"jobs must be an integer >= 1 (0: all cores), got {cfg.jobs!r}")
    if cfg.accuracy_limit is not None and not (integer(cfg.accuracy_limit) and cfg.accuracy_limit >= 1):
        raise BenchError(f"accuracy_limit must be an integer >= 1 (None: the whole dev set), "
                         f"got {cfg.accuracy_limit!r}")
    unknown = sorted(set(cfg.runtimes or ()) - set(runtimes.RUNTIMES))
    if cfg.runtimes is not None and (not cfg.runtimes or unknown):
        raise BenchError(f"unknown runtime(s) {', '.join(unknown) or '(none given)'}; known: "
                         f"{', '.join(runtimes.RUNTIMES)}")
    if cfg.formats is not None and not cfg.formats:
        raise BenchError("no format given (formats)")
    s = cfg.latency
    checks = (("warmup", integer(s.warmup) and s.warmup >= 0, ">= 0"),
              ("min_runs", integer(s.min_runs) and s.min_runs >= 1, ">= 1"),
              ("min_seconds", number(s.min_seconds) and s.min_seconds >= 0, ">= 0"),
              ("spread_limit", number(s.spread_limit) and s.spread_limit >= 1, ">= 1"),
              ("max_group_seconds", number(s.max_group_seconds) and s.max_group_seconds > 0, "> 0"))
    for name, ok, rule in checks:
        if not ok:
            raise BenchError(f"{name} must be a finite number {rule}, got {getattr(s, name)!r}")


def run(manifest_path: str | Path, out_dir: str | Path | None = None, *, fast: bool = False,
        settings: BenchSettings | None = None, data_dir: str | Path | None = None,
        teacher_metric: float | None = None, android: str = "auto", android_options: dict | None = None,
        verify_files: bool = True, progress: bool = True, **overrides) -> dict:
    """Benchmark every usable artifact of an export; write the tables into ``out_dir``; return the results.

    ``out_dir`` defaults to ``<manifest folder>/bench``. ``fast=True`` uses :data:`FAST` (CI). Keyword
    ``overrides`` set single fields of :class:`BenchSettings` / :class:`~device_bench.latency.LatencySettings`:
    ``seq_lens``, ``cpu_threads``, ``mobile_threads``, ``warmup``, ``min_runs``, ``min_seconds``,
    ``spread_limit``, ``max_group_seconds``, ``accuracy``, ``accuracy_limit``, ``deflate``, ``rss``,
    ``formats``, ``runtimes``, ``jobs``, ``include_failed``, ``cache``. ``teacher_metric`` is the
    teacher's dev metric (a fraction) when known; otherwise the full (1.0, 1.0) hf sub-network stands in.
    ``android``: "auto" (run on a phone when adb sees one), "off", or "on" (fail if none).
    Raises :class:`~device_bench.manifest_reader.BenchError` for a bad manifest, file or option.
    """
    t0 = time.perf_counter()
    load_at_start = _loadavg()
    cfg = resolve_settings(fast, settings, **overrides)
    manifest = read_manifest(manifest_path, verify_files=verify_files, include_failed=cfg.include_failed)
    tokenizer = acc.load_tokenizer(manifest)  # a broken export fails here, before any output folder is made
    out = Path(out_dir).expanduser() if out_dir is not None else manifest.root / "bench"
    prepare_out(out)
    requested_seq = cfg.seq_lens
    cfg, seq_note = _clamp_lengths(cfg, manifest)
    artifacts = _select_artifacts(manifest, cfg)
    _log(f"{len(artifacts)} artifact(s) from {manifest.path}; results -> {out}")
    dev, dev_reason = _dev_set(manifest, data_dir, cfg, tokenizer)
    inputs, input_texts = _latency_inputs(manifest, data_dir, cfg, tokenizer)
    cache = _Cache(out / ".cache" / "accuracy_size.json", cfg.cache)

    phase = {}
    t = time.perf_counter()
    accuracy, sizes = _accuracy_and_sizes(manifest, artifacts, dev, dev_reason, cfg, cache, progress)
    phase["accuracy_and_sizes"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    plan = _plan(artifacts, cfg)
    measured, groups = _latency(plan, inputs, cfg, progress)
    phase["latency"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    rss, rss_reason = _rss(artifacts, inputs, cfg)
    phase["rss"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    bundles = _bundles(manifest, cfg, dev, progress)
    phase["bundles"] = round(time.perf_counter() - t, 1)

    from . import adb

    android_result = adb.maybe_run(android, manifest, artifacts, input_texts, android_options or {}, out)
    facts = _model_facts(manifest, cfg.seq_lens)
    teacher = _teacher(manifest, accuracy, teacher_metric)
    rows = _derive_rows(manifest, plan, measured, rss, rss_reason, facts, accuracy, sizes, teacher)
    rows += adb.rows_from(android_result, manifest, artifacts, rows)

    results = {
        "schema": RESULTS_SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "manifest": str(manifest.path), "task": manifest.task, "metric_name": acc.task_spec(manifest).main_metric,
        "dev": None if dev is None else {"path": dev.path, "examples": dev.examples, "total_examples": dev.total,
                                         "sampling": dev.sampling, "fingerprint": dev.fingerprint,
                                         "pair": dev.pair},
        "dev_reason": dev_reason, "teacher_metric": teacher, "full_subnet": manifest.full_subnet,
        "environment": {**environment(), "loadavg_at_start": load_at_start},
        "settings": {**_settings_record(cfg), "seq_lens_requested": list(requested_seq), "seq_note": seq_note},
        "input_texts": {str(k): v for k, v in input_texts.items()},
        "subnets": list(facts.values()),
        "artifacts": [_artifact_record(a, accuracy, sizes, facts) for a in artifacts],
        "skipped": [dict(u, reason="failed export verification") for u in manifest.unusable],
        "rows": rows, "latency_groups": groups, "android": android_result, "bundles": bundles,
        "rss_method": "fork per model, /proc VmHWM after clear_refs" if rss_reason is None else rss_reason,
        "phase_seconds": phase,
    }
    results["wall_seconds"] = round(time.perf_counter() - t0, 1)
    _write_outputs(results, out)
    return results


def _bundles(manifest: Manifest, cfg: BenchSettings, dev: acc.DevSet | None, progress: bool) -> list[dict]:
    """Each verified shared-weight bundle of the export measured beside the standalone files of the same
    precision (device_bench.bundle_bench): size, dev accuracy (classification), p50 at the longest measured
    length, the cost of switching entries, and peak RSS with 1, 2 and all entries loaded."""
    from . import bundle_bench

    measured = []
    for bundle in manifest.bundles:
        if bundle.status != "passed":
            measured.append({"format": bundle.format, "skipped": f"export marked it {bundle.status}"})
            continue
        examples = None
        if dev is not None and not manifest.is_regression:
            examples = (dev.features, [int(y) for y in dev.labels])
        result = bundle_bench.measure(bundle.path, manifest.root, seq=max(cfg.seq_lens),
                                      runs=max(5, cfg.latency.min_runs), accuracy_examples=examples,
                                      memory=cfg.rss, progress=progress)
        measured.append({"format": bundle.format, **result})
    return measured


def _clamp_lengths(cfg: BenchSettings, manifest: Manifest) -> tuple[BenchSettings, str | None]:
    """A model never sees more than the export's max_length tokens (the app truncates there too): a longer
    requested length is measured at max_length instead, and the table says so."""
    requested = cfg.seq_lens
    cfg = replace(cfg, seq_lens=tuple(sorted({min(s, manifest.max_length) for s in cfg.seq_lens})))
    note = (None if set(cfg.seq_lens) == set(requested) else
            f"lengths above the export's max_length {manifest.max_length} are measured at "
            f"{manifest.max_length} (asked: {', '.join(map(str, requested))})")
    return cfg, note


def _select_artifacts(manifest: Manifest, cfg: BenchSettings) -> list[Artifact]:
    artifacts = list(manifest.artifacts)
    if cfg.formats is not None:
        artifacts = [a for a in artifacts if a.format in cfg.formats]
        if not artifacts:
            raise BenchError(f"no artifact of format(s) {', '.join(cfg.formats)} in {manifest.path}")
    return artifacts


def _dev_set(manifest: Manifest, data_dir: str | Path | None, cfg: BenchSettings,
             tokenizer) -> tuple[acc.DevSet | None, str | None]:
    """The dev set every file is scored on, or why there is none (then accuracy is "not run" with it)."""
    if not cfg.accuracy:
        return None, None
    try:
        return acc.load_dev_set(manifest, data_dir, cfg.accuracy_limit, tokenizer), None
    except BenchError as exc:
        reason = str(exc).removeprefix("accuracy: ")
        _log(f"accuracy not run: {reason}")
        return None, reason


def _latency_inputs(manifest: Manifest, data_dir: str | Path | None, cfg: BenchSettings,
                    tokenizer) -> tuple[dict[int, dict], dict[int, str]]:
    """Per measured length, dev-set text of exactly that many tokens, and its features."""
    from .texts import features_for, text_with_tokens

    sentences = _sentences(manifest, data_dir)
    inputs, texts = {}, {}
    for seq in cfg.seq_lens:
        texts[seq] = text_with_tokens(tokenizer, sentences, seq)
        inputs[seq] = features_for(tokenizer, texts[seq], max(seq, manifest.max_length))
    return inputs, texts


def _rss(artifacts: list[Artifact], inputs: dict[int, dict],
         cfg: BenchSettings) -> tuple[dict[str, dict], str | None]:
    """Peak RSS of each (artifact, runtime), one forked process each (memory.py), or why not measured."""
    if not cfg.rss:
        return {}, "memory measurement disabled"
    reason = memory.unavailable_reason()
    longest = max(cfg.seq_lens)
    jobs = []
    for a in artifacts:
        for runtime in runtimes.runtimes_for(a):
            if runtimes.unavailable_reason(runtime) is None and (cfg.runtimes is None or runtime in cfg.runtimes):
                seq = longest if not a.max_length or longest <= a.max_length else min(cfg.seq_lens)
                jobs.append(memory.MemoryJob(f"{a.id}|{runtime}", runtime, a, 1, runtimes.make_feed(a, inputs[seq])))
    if reason is not None or not jobs:
        return {}, reason
    _log(f"peak RSS of {len(jobs)} model(s), one process each")
    return memory.measure(jobs, workers=cfg.jobs or os.cpu_count() or 1), reason


def _teacher(manifest: Manifest, accuracy: dict[str, dict], teacher_metric: float | None) -> dict:
    """The metric "vs teacher" compares with: given, or the full hf sub-network's as a stand-in."""
    if teacher_metric is not None:
        return {"value": float(teacher_metric), "source": "given (--teacher-metric)"}
    full = manifest.full_subnet
    return {"value": accuracy.get(f"{full}/hf", {}).get("metric") if full else None,
            "source": f"not recorded in the manifest: the full ({full}) hf sub-network's metric stands in"}


def _write_outputs(results: dict, out: Path) -> None:
    from . import report, table

    write_results(out / RESULTS_NAME, results)
    table.write_all(results, out)
    report.write_report(results, out)
    _log(f"wrote {out / 'table.md'}, table.csv, results.json, report.html in {results['wall_seconds']:.0f} s")


def prepare_out(out: Path) -> None:
    """Create ``out`` and check it is writable now, not after minutes of measuring: one line otherwise."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise BenchError(f"output folder {out} exists and is not a folder (--out)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BenchError(f"output folder {out} cannot be created: part of its path is a file (--out)") from None
    except OSError as exc:
        raise BenchError(f"output folder {out} cannot be created: {exc.strerror or exc} (--out)") from None
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise BenchError(f"output folder {out} is not writable: {exc.strerror or exc} (--out)") from None


def _sentences(manifest: Manifest, data_dir: str | Path | None) -> list[str]:
    """Dev-set sentences for the latency input text (a fixed filler when no data is readable)."""
    try:
        return [ex.text for ex in acc.read_dev_examples(manifest, data_dir)[1][:200]]
    except BenchError:
        return ["the film is a charming and often affecting journey"]


def _settings_record(cfg: BenchSettings) -> dict:
    return {"seq_lens": list(cfg.seq_lens), "cpu_threads": list(cfg.cpu_thread_counts()),
            "mobile_threads": list(cfg.mobile_threads), "warmup": cfg.latency.warmup,
            "min_runs": cfg.latency.min_runs, "min_seconds": cfg.latency.min_seconds,
            "spread_limit": cfg.latency.spread_limit, "max_group_seconds": cfg.latency.max_group_seconds,
            "accuracy": cfg.accuracy, "accuracy_limit": cfg.accuracy_limit, "deflate": cfg.deflate, "rss": cfg.rss,
            "formats": None if cfg.formats is None else list(cfg.formats),
            "runtimes": None if cfg.runtimes is None else list(cfg.runtimes),
            "jobs": cfg.jobs or os.cpu_count(), "include_failed": cfg.include_failed, "batch": 1}


def _artifact_record(a: Artifact, accuracy: dict, sizes: dict, facts: dict) -> dict:
    accr = accuracy.get(a.id, {})
    return {"id": a.id, "subnet": a.subnet, "width_mult": a.width_mult, "depth_mult": a.depth_mult,
            "format": a.format, "precision": a.precision, "runtime": a.runtime, "path": str(a.path),
            "rel_path": a.rel_path, "sha256": a.sha256, "export_status": a.status, "max_length": a.max_length,
            "input_names": list(a.input_names), "input_dtypes": list(a.input_dtypes),
            "accuracy": accr, "metric": accr.get("metric"), **sizes.get(a.id, {}),
            "params": facts.get(a.subnet, {}).get("params")}

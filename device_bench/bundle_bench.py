"""Measuring a shared-weight bundle (export.bundle) beside the standalone files of the same export.

Everything is measured side by side in one run, so background load hits the bundle and the standalone
files alike:

- **size**: each entry's share of ``weights.bin`` (the bytes its graph reads) and the bundle against the
  standalone full file and the sum of all of them;
- **accuracy**: dev accuracy of each entry and of its standalone file on the same labelled examples, and
  their argmax agreement;
- **latency**: p50 of batch-1 runs at one sequence length on ONNX Runtime's CPU provider with one thread,
  entry and standalone file alternating;
- **switching**: the time to the first result after switching to an entry, with the session created on
  demand (create + first run) and with every session preloaded (first run on the other session);
- **memory**: peak RSS of a fresh process that loads 1, 2 or all entries (one inference each), against
  the same number of standalone files, each count in a process of its own (as in device_bench.memory).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from export.bundle_index import BundleIndex, read_index

#: The order in which sub-models are loaded for the memory rows: largest first, so "2 entries" is the two
#: a device would most likely switch between (full and the next one down).
RSS_COUNTS = (1, 2, 12)


def session(path: Path, threads: int = 1):
    """An ONNX Runtime session opened as the catalogue's ``onnxruntime-cpu`` entry opens every standalone file,
    so bundle and standalone rows differ only in the file."""
    from dynabert import runtimes as catalogue

    return catalogue.open_session("onnxruntime-cpu", path, threads=threads).session


def synthetic_feed(names: list[str], seq: int, vocab_low: int = 1000, vocab_high: int = 5000, seed: int = 0) -> dict:
    """A full-length batch-1 input (latency does not depend on which tokens)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(vocab_low, vocab_high, size=(1, seq)).astype(np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return {name: feed[name] for name in names}


def standalone_files(export_dir: Path, index: BundleIndex) -> dict[str, Path]:
    """The standalone file of each entry's sub-model and precision (``model.onnx`` / ``model.int8.onnx``)."""
    name = "model.onnx" if index.precision == "fp32" else "model.int8.onnx"
    return {e.name: export_dir / e.name / name for e in index.entries if (export_dir / e.name / name).is_file()}


def position_rows(export_dir: Path) -> int:
    """The longest input the graphs take: the full model's position table (RoBERTa: two rows fewer)."""
    config = json.loads((export_dir / "w1_d1" / "hf" / "config.json").read_text())
    return int(config["max_position_embeddings"]) - (2 if config.get("model_type") == "roberta" else 0)


# ---------------------------------------------------------------------------------------------- size


def size_rows(folder: Path, index: BundleIndex, standalone: dict[str, Path]) -> dict:
    from dynabert.fileio import path_bytes
    from export.bundle import reads_bytes

    bundle_bytes = path_bytes(folder)
    sizes = {name: p.stat().st_size for name, p in standalone.items()}
    full = sizes.get(index.entries[0].name)
    rows = [{"entry": e.name, "graph_bytes": (folder / e.graph).stat().st_size,
             "reads_bytes": reads_bytes(folder / e.graph),
             "reads_share": round(reads_bytes(folder / e.graph) / index.weights_bytes, 4),
             "standalone_bytes": sizes.get(e.name), **_verified(e)} for e in index.entries]
    return {"bundle_bytes": bundle_bytes, "weights_bytes": index.weights_bytes,
            "graphs_bytes": bundle_bytes - index.weights_bytes, "standalone_full_bytes": full,
            "standalone_sum_bytes": sum(sizes.values()) if len(sizes) == len(index.entries) else None,
            "ratio_to_full": round(bundle_bytes / full, 4) if full else None,
            "ratio_to_sum": round(bundle_bytes / sum(sizes.values()), 4) if sizes else None, "entries": rows}


def _verified(entry) -> dict:
    """What the export's verification measured (bundle.json): argmax agreement on its dev inputs."""
    record = entry.verification or {}
    parity, alone = record.get("parity") or {}, record.get("vs_standalone") or {}
    return {"verified_n": parity.get("n"), "agreement_with_pytorch": parity.get("argmax_agreement"),
            "agreement_with_standalone": alone.get("argmax_agreement"),
            "max_abs_diff_vs_standalone": alone.get("max_abs_diff"), "verified": record.get("passed")}


# ---------------------------------------------------------------------------------------------- accuracy


def accuracy_rows(folder: Path, index: BundleIndex, standalone: dict[str, Path], features: list[dict],
                  labels: list[int], progress: bool = True) -> list[dict]:
    """Dev accuracy of each entry and of its standalone file, and how often their argmax agree."""
    from tqdm.auto import tqdm

    rows = []
    y = np.asarray(labels)
    for entry in tqdm(index.entries, desc="bundle: accuracy", unit="entry", disable=not progress):
        preds = {}
        for kind, path in (("bundle", folder / entry.graph), ("standalone", standalone.get(entry.name))):
            if path is None:
                continue
            s = session(path)
            preds[kind] = np.array([int(s.run(None, f)[0].argmax()) for f in features])
        row = {"entry": entry.name, "n": len(labels), "bundle_accuracy": round(float((preds["bundle"] == y).mean()), 5)}
        if "standalone" in preds:
            row["standalone_accuracy"] = round(float((preds["standalone"] == y).mean()), 5)
            row["argmax_agreement"] = round(float((preds["standalone"] == preds["bundle"]).mean()), 5)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- latency


def _p50_ms(s, feed: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        s.run(None, feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000.0


def latency_rows(folder: Path, index: BundleIndex, standalone: dict[str, Path], seq: int, runs: int = 20,
                 rounds: int = 2, threads: int = 1, progress: bool = True) -> list[dict]:
    """p50 ms per entry and per standalone file, alternating the two ``rounds`` times (best round kept)."""
    from tqdm.auto import tqdm

    feed = synthetic_feed(index.inputs, seq)
    rows = []
    for entry in tqdm(index.entries, desc="bundle: latency", unit="entry", disable=not progress):
        paths = {"bundle": folder / entry.graph, "standalone": standalone.get(entry.name)}
        sessions = {k: session(p, threads) for k, p in paths.items() if p is not None}
        for s in sessions.values():
            for _ in range(3):  # warm-up: the first runs allocate
                s.run(None, feed)
        best = {k: float("inf") for k in sessions}
        for _ in range(rounds):
            for kind, s in sessions.items():
                best[kind] = min(best[kind], _p50_ms(s, feed, runs))
        row = {"entry": entry.name, "seq": seq, "threads": threads, "runs": runs * rounds,
               "bundle_p50_ms": round(best["bundle"], 3)}
        if "standalone" in best:
            row["standalone_p50_ms"] = round(best["standalone"], 3)
            row["ratio"] = round(best["bundle"] / best["standalone"], 3)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- switching


def switch_rows(folder: Path, index: BundleIndex, standalone: dict[str, Path], seq: int, threads: int = 1,
                progress: bool = True) -> dict:
    """Time to the first result after switching from the previous entry (largest first, then back up).

    ``on_demand``: the new entry's session is created at the switch (what an app that holds one session at
    a time pays): create + first run. ``preloaded``: every session was created up front; the switch is the
    first run on the other session. The standalone files' on-demand cost is measured alongside.
    """
    from tqdm.auto import tqdm

    feed = synthetic_feed(index.inputs, seq)
    order = [e.name for e in index.entries]
    path = {e.name: folder / e.graph for e in index.entries}
    sequence = order + order[-2::-1]  # down the grid and back up: every entry switched to at least once
    on_demand, alone = [], []
    for name in tqdm(sequence[1:], desc="bundle: switch", unit="switch", disable=not progress):
        for p, sink in ((path[name], on_demand), (standalone.get(name), alone)):
            if p is None:
                continue
            start = time.perf_counter()
            s = session(p, threads)
            created = time.perf_counter()
            s.run(None, feed)
            done = time.perf_counter()
            sink.append({"to": name, "create_ms": round((created - start) * 1000, 2),
                         "first_run_ms": round((done - created) * 1000, 2),
                         "to_first_result_ms": round((done - start) * 1000, 2)})
            del s
    sessions = {name: session(p, threads) for name, p in path.items()}
    for s in sessions.values():
        s.run(None, feed)
    preloaded = []
    for previous, name in zip(sequence, sequence[1:], strict=False):
        sessions[previous].run(None, feed)  # the entry we switch away from has just run
        start = time.perf_counter()
        sessions[name].run(None, feed)
        preloaded.append({"from": previous, "to": name,
                          "to_first_result_ms": round((time.perf_counter() - start) * 1000, 2)})

    def p50(rows: list[dict], key: str = "to_first_result_ms") -> float | None:
        return round(float(np.median([r[key] for r in rows])), 2) if rows else None

    return {"seq": seq, "threads": threads, "sequence": sequence,
            "on_demand": {"p50_to_first_result_ms": p50(on_demand), "p50_create_ms": p50(on_demand, "create_ms"),
                          "switches": on_demand},
            "standalone_on_demand": {"p50_to_first_result_ms": p50(alone), "p50_create_ms": p50(alone, "create_ms"),
                                     "switches": alone},
            "preloaded": {"p50_to_first_result_ms": p50(preloaded), "switches": preloaded}}


# ---------------------------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _rss_child(paths: list[str], feed: dict, threads: int) -> dict:
    """Runs in a fresh process: load ``paths`` (one session each), one inference each, read the peak."""
    import onnxruntime  # noqa: F401 - the runtime's own libraries are not the models' memory

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS: the interpreter's start-up peak is not counted
        reset = True
    except OSError:
        reset = False
    before = _status_kb("VmRSS") * 1024
    sessions = [session(Path(p), threads) for p in paths]
    for s in sessions:
        s.run(None, feed)
    peak = _status_kb("VmHWM") * 1024
    return {"peak_rss_bytes": peak, "models_rss_bytes": peak - before, "hwm_reset": reset,
            "rss_file_bytes": _status_kb("RssFile") * 1024, "rss_anon_bytes": _status_kb("RssAnon") * 1024}


def rss_rows(folder: Path, index: BundleIndex, standalone: dict[str, Path], seq: int, counts=RSS_COUNTS,
             threads: int = 1, progress: bool = True) -> list[dict]:
    """Peak RSS with the ``n`` largest entries loaded, bundle vs standalone, each in a fresh process."""
    from tqdm.auto import tqdm

    if not sys.platform.startswith("linux"):
        return [{"error": "peak RSS is read from /proc (Linux only)"}]
    feed = synthetic_feed(index.inputs, seq)
    ctx = mp.get_context("spawn")  # a clean interpreter per measurement: nothing loaded before counts
    rows = []
    names = [e.name for e in index.entries]
    jobs = []
    for n in counts:
        n = min(n, len(names))
        jobs.append((n, "bundle", [str(folder / index.entry(name).graph) for name in names[:n]]))
        if all(name in standalone for name in names[:n]):
            jobs.append((n, "standalone", [str(standalone[name]) for name in names[:n]]))
    for n, kind, paths in tqdm(jobs, desc="bundle: memory", unit="process", disable=not progress):
        with ctx.Pool(1) as pool:
            record = pool.apply(_rss_child, (paths, feed, threads))
        rows.append({"entries": n, "kind": kind, "loaded": names[:n], **record})
    return rows


# ---------------------------------------------------------------------------------------------- all


def measure(folder: str | Path, export_dir: str | Path, seq: int = 128, runs: int = 20,
            accuracy_examples: tuple[list[dict], list[int]] | None = None, memory: bool = True,
            progress: bool = True) -> dict:
    """Every measurement of one bundle folder beside the standalone files of ``export_dir``."""
    folder, export_dir = Path(folder), Path(export_dir)
    index = read_index(folder)  # checksums first: never measure bytes that are not the recorded ones
    standalone = standalone_files(export_dir, index)
    seq = min(seq, position_rows(export_dir))
    result = {"bundle": str(folder), "precision": index.precision, "entries": [e.name for e in index.entries],
              "size": size_rows(folder, index, standalone)}
    if accuracy_examples is not None:
        result["accuracy"] = accuracy_rows(folder, index, standalone, *accuracy_examples, progress=progress)
    result["latency"] = latency_rows(folder, index, standalone, seq, runs, progress=progress)
    result["switch"] = switch_rows(folder, index, standalone, seq, progress=progress)
    if memory:
        result["memory"] = rss_rows(folder, index, standalone, seq, progress=progress)
    return result


def write(result: dict, path: Path) -> None:
    from dynabert.fileio import write_json_atomic

    write_json_atomic(path, json.loads(json.dumps(result)), allow_nan=False)

"""Where the INT8 sub-models' time goes, per operator type, against their FLOPs share (issue #16).

    python benchmarks/int8_profile.py --export runs/sst2-vocab/full --out runs/bench/int8_profile

For the full sub-model and the narrower ones (``--models``, default w1_d1 and the width-0.25 ones) at each
``--seq`` (default 32 and 128): the exported ``model.int8.onnx`` in the session settings export recorded for
it (with ``--work DIR``: the dynamic INT8 files ``benchmarks/int8_speed.py --work DIR`` rebuilt, in the
settings it measured; an export whose files fell back to another INT8 recipe profiles that one), 1 thread,
batch 1, seeded random ids, all attended. Each file is run ``--runs`` times under ONNX Runtime's
profiler (after ``--warmup`` runs it does not count) and the kernel times are summed per operator type.

Per narrow model and operator type the table gives the microseconds per run, the full model's, and the
**excess**: the narrow model's time minus the full model's divided by the FLOPs ratio (``dynabert.stats``
at that length; the FLOPs-ideal speed-up) - what the narrow model spends beyond its FLOPs share. The
excesses add up (under the profiler) to what keeps a row below 100 % of its FLOPs-ideal speed-up
(``benchmarks/int8_speed.py``).
The profiler adds ~1-3 us per node, so the sums exceed a run's time without it, given too (``p50 ms``, a
session without the profiler, timed after the profiled runs). Writes ``<out>/int8_profile.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from int8_speed import feeds_for, read_rebuilt  # noqa: E402  (same folder: the rebuilt files and the inputs)

from device_bench.manifest_reader import BenchError, read_manifest  # noqa: E402
from dynabert.cli_options import int_in  # noqa: E402
from dynabert.fileio import write_report  # noqa: E402
from export import session_settings as S  # noqa: E402

FORMAT = "onnx-int8"
DEFAULT_MODELS = ("w1_d1", "w0.25_d1", "w0.25_d0.75", "w0.25_d0.5")


def per_op(events: list[dict], runs: int) -> tuple[dict[str, dict], list[float]]:
    """``({op_type: {"nodes": n, "us": per run}}, [model_run us])`` over the last ``runs`` ``model_run`` events of
    an ONNX Runtime profile (its JSON list of events): node kernel times are kept only inside those runs, so the
    warm-up runs and the session's initialisation do not count."""
    model_runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                        key=lambda e: e["ts"])[-runs:]
    if len(model_runs) < runs:
        raise ValueError(f"the profile holds {len(model_runs)} runs, expected at least {runs}")
    starts = [e["ts"] for e in model_runs]  # sorted, the runs do not overlap
    ends = [e["ts"] + e["dur"] for e in model_runs]
    total: dict[str, float] = defaultdict(float)
    nodes: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        run = bisect.bisect_right(starts, e["ts"]) - 1  # the last run that started at or before this node
        if run < 0 or e["ts"] > ends[run]:
            continue
        op = e["args"]["op_name"]
        total[op] += e["dur"]
        nodes[op].add(e["name"])
    return ({op: {"nodes": len(nodes[op]), "us": total[op] / runs} for op in total},
            [float(e["dur"]) for e in model_runs])


def excess(full: dict[str, dict], narrow: dict[str, dict], ideal: float) -> list[dict]:
    """Per operator type: the narrow model's us per run, the full model's, and the narrow one's excess over
    its FLOPs share of the full model's (``narrow - full / ideal``), largest excess first."""
    rows = []
    for op in sorted(set(full) | set(narrow)):
        f, n = full.get(op, {"nodes": 0, "us": 0.0}), narrow.get(op, {"nodes": 0, "us": 0.0})
        rows.append({"op": op, "nodes": n["nodes"], "full_nodes": f["nodes"], "us": round(n["us"], 1),
                     "full_us": round(f["us"], 1), "excess_us": round(n["us"] - f["us"] / ideal, 1)})
    return sorted(rows, key=lambda r: -r["excess_us"])


def profile(path: Path, settings: dict, seq: int, vocab: int, runs: int, warmup: int) -> dict:
    """One file at one length: per-op kernel times under the profiler, then the p50 of a session without it."""
    with tempfile.TemporaryDirectory() as scratch:
        session = S.session(path, settings, profile_prefix=Path(scratch) / "profile")
        feed = feeds_for(session, seq, vocab)
        for _ in range(warmup + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    ops, model_runs = per_op(events, runs)
    plain = S.session(path, settings)
    for _ in range(warmup):
        plain.run(None, feed)
    ms = []
    for _ in range(runs):
        start = time.thread_time()
        plain.run(None, feed)
        ms.append((time.thread_time() - start) * 1000.0)
    return {"ops": ops, "kernel_us": round(sum(o["us"] for o in ops.values()), 1),
            "profiled_run_p50_us": round(statistics.median(model_runs), 1), "p50_ms": round(statistics.median(ms), 3)}


def flops(manifest, names: list[str], seqs: list[int]) -> dict[tuple[str, int], int]:
    """``{(sub-model, seq): FLOPs}`` (``dynabert.stats``) from each sub-model's ``hf/config.json``, read once."""
    from transformers import AutoConfig

    from dynabert.stats import model_stats

    out = {}
    for name in names:
        hf = manifest.hf_dir(name)
        if hf is None:
            raise BenchError(f"{manifest.path}: no hf/ artifact for {name} (its config gives the FLOPs)")
        config = AutoConfig.from_pretrained(hf)
        out.update({(name, seq): model_stats(config, seq).flops for seq in seqs})
    return out


def markdown(result: dict) -> str:
    lines = [f"{result['environment']['cpu']}: ONNX Runtime {result['onnxruntime']} CPU, 1 thread, batch 1, "
             f"{result['files']}, {result['runs']} profiled runs each. us = kernel microseconds per run "
             "(profiler); excess = us - full us / FLOPs-ideal x (time beyond the FLOPs share).", ""]
    for seq, block in result["by_seq"].items():
        full = block["models"][result["full"]]
        lines += [f"## seq {seq}", "", f"{result['full']}: p50 {full['p50_ms']:.3f} ms without the profiler, "
                  f"kernels {full['kernel_us']:.0f} us per run under it.", ""]
        for name, ideal in block["ideal"].items():
            m = block["models"][name]
            reached = (full["p50_ms"] / m["p50_ms"]) / ideal
            total = sum(r["excess_us"] for r in m["excess"])
            lines += [f"### {name}: FLOPs-ideal {ideal:.2f}x, p50 {m['p50_ms']:.3f} ms ({100 * reached:.1f} % of the "
                      f"ideal here); kernels {m['kernel_us']:.0f} us, excess {total:.0f} us", "",
                      "| op | nodes | us | full: nodes, us | excess us |", "|---|---|---|---|---|"]
            lines += [f"| {r['op']} | {r['nodes']} | {r['us']:.1f} | {r['full_nodes']}, {r['full_us']:.1f} | "
                      f"{r['excess_us']:+.1f} |" for r in m["excess"]]
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_cli(argv)


def run_cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, profile, write the files; returns the result (what ``int8_profile.json`` holds)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, required=True, help="an export folder (holds manifest.json); read only")
    parser.add_argument("--work", type=Path, help="profile the files benchmarks/int8_speed.py rebuilt into this "
                                                  "--work folder instead of the export's")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/int8_profile"))
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="sub-model names; the full one (width and depth 1) is always profiled")
    parser.add_argument("--seq", nargs="+", type=int_in(1), default=[32, 128])
    parser.add_argument("--runs", type=int_in(1), default=200, help="profiled runs per file and length")
    parser.add_argument("--warmup", type=int_in(0), default=20, help="runs before the counted ones")
    args = parser.parse_args(argv)
    if not (args.export / "manifest.json").is_file():
        parser.error(f"{args.export} has no manifest.json (pass the folder export.all wrote)")
    try:
        return run(args)
    except BenchError as exc:
        raise SystemExit(f"int8_profile: {exc}") from None


def int8_files(manifest, names: list[str], work: Path | None) -> dict[str, tuple[Path, dict]]:
    """``{name: (INT8 file, session settings)}``: the export's ``onnx-int8`` artifacts, or with ``work`` the files
    ``benchmarks/int8_speed.py`` rebuilt there (``work/after/<name>``, read by its checked reader)."""
    if work is not None:
        files = {}
        for name in names:
            try:
                saved = read_rebuilt(work / "after" / name)
            except ValueError as exc:  # a file name leading out of the folder, unknown settings, bad JSON
                raise BenchError(f"--work {work}: {exc}") from None
            if saved is None or "int8" not in saved:
                raise BenchError(f"--work {work}: no rebuilt INT8 file for {name} (run benchmarks/int8_speed.py "
                                 f"--work {work} first)")
            files[name] = saved["int8"][:2]
        return files
    arts = {a.subnet: a for a in manifest.artifacts if a.format == FORMAT}
    missing = [m for m in names if m not in arts]
    if missing:
        raise BenchError(f"{manifest.path}: no {FORMAT} file for {', '.join(missing)} "
                         f"(has: {', '.join(sorted(arts)) or 'none'})")
    return {name: (arts[name].path, arts[name].session_settings) for name in names}


def run(args) -> dict:
    import onnxruntime as ort

    # Failed artifacts too: a file that missed export's accuracy gate still says where its time goes.
    manifest = read_manifest(args.export / "manifest.json", include_failed=True)
    full = manifest.full_subnet
    names = [full] + [m for m in args.models if m != full]
    files = int8_files(manifest, names, args.work)
    if max(args.seq) > manifest.max_length:
        raise BenchError(f"--seq {max(args.seq)} is longer than the export accepts ({manifest.max_length})")
    vocab = len(manifest.vocab.read_text().splitlines()) if manifest.vocab else 30522
    from device_bench.harness import environment

    files_from = (f"the INT8 files int8_speed.py rebuilt in {args.work}, in the settings it measured" if args.work
                  else "the INT8 files as exported, in the session settings of the manifest")
    result = {"environment": environment(), "onnxruntime": ort.__version__, "files": files_from, "runs": args.runs,
              "warmup": args.warmup, "full": full, "by_seq": {}}
    counted = flops(manifest, names, args.seq)
    jobs = [(seq, name) for seq in args.seq for name in names]
    for seq, name in tqdm(jobs, desc="profiles"):
        block = result["by_seq"].setdefault(str(seq), {"models": {}, "ideal": {}})
        path, settings = files[name]
        block["models"][name] = profile(path, settings, seq, vocab, args.runs, args.warmup)
        block["models"][name]["file"] = str(path)
        if name != full:
            ideal = counted[(full, seq)] / counted[(name, seq)]
            block["ideal"][name] = round(ideal, 3)
            block["models"][name]["excess"] = excess(block["models"][full]["ops"], block["models"][name]["ops"],
                                                     ideal)
    text = markdown(result)
    print(text)
    print("wrote {} and {}".format(*write_report(args.out, "int8_profile", result, text)))
    return result


if __name__ == "__main__":
    main()

"""``python -m device_bench --manifest OUT/manifest.json``: accuracy, size and latency of every exported file.

Reads the export manifest (and only the files it lists, plus the task's dev set), and writes into
``--out`` (default: ``<manifest folder>/bench``):

  table.md              the pick table first (one row per sub-model: metric, size, p50 per runtime, Pareto
                        marks; also printed at the end), then an accuracy/size row per artifact and a
                        latency row per artifact x runtime x threads x sequence length
  table.csv             the latency rows
  results.json          everything, including settings, machine and versions (what `pick` reads)
  report.html           self-contained (open it offline): the pick table and the `pick` command for each
                        Pareto-front model, labelled Pareto plots per runtime, width x depth heat maps,
                        sortable and filterable tables; the PNGs are also written beside it

Runtimes: PyTorch (hf/), ONNX Runtime CPU (.onnx, 1 thread and all cores), ONNX Runtime with mobile-like
settings (.ort, 1 and 2 threads; XNNPACK EP when the installed build has it), ExecuTorch + XNNPACK (.pte),
Core ML (macOS only), and an Android phone over adb when one is attached. A runtime that cannot run is
reported as "n/a" with the reason.

Exit codes: 0 done, 2 a problem with the manifest, a listed file or an option (one line on stderr),
130 interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from dynabert.cli_options import Parser, existing_file, existing_path, float_in, int_in, int_list


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


#: More threads than this is a typo, not a machine (ONNX Runtime would try to start them all).
MAX_THREADS = 1024


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m device_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="export.all's manifest.json (or the folder holding it)")
    p.add_argument("--out", help="output folder (default: <manifest folder>/bench)")
    p.add_argument("--fast", action="store_true",
                   help="CI settings: 1 warm-up, >= 5 runs and >= 0.02 s per cell (numbers are noisy)")
    p.add_argument("--data-dir", type=existing_path,
                   help="GLUE directory (or the task's folder) for the dev set (default: where export took its "
                        "verification inputs)")
    g = p.add_argument_group("latency")
    g.add_argument("--seq-lens", type=int_list(3), help="sequence lengths in tokens (default 32,128)")
    g.add_argument("--cpu-threads", type=int_list(1, MAX_THREADS),
                   help="threads for PyTorch and ONNX Runtime CPU (default 1,all cores)")
    g.add_argument("--mobile-threads", type=int_list(1, MAX_THREADS), help="threads for .ort and .pte (default 1,2)")
    g.add_argument("--runs", type=int_in(1), dest="min_runs",
                   help="at least this many timed runs per cell (R, default 15)")
    g.add_argument("--min-seconds", type=float_in(0),
                   help="and at least this many seconds of timed runs (T, default 0.3)")
    g.add_argument("--warmup", type=int_in(0), help="untimed runs after the first inference (default 3)")
    g.add_argument("--spread-limit", type=float_in(1), help="flag cells whose p90/p50 exceeds this (default 1.5)")
    g.add_argument("--max-group-seconds", type=float_in(0, low_open=True),
                   help="stop a thread-count group after this long (default 240)")
    s = p.add_argument_group("selection")
    s.add_argument("--formats", type=_names, help="only these formats (e.g. onnx,onnx-int8,ort)")
    s.add_argument("--runtimes", type=_names, help="only these runtimes (pytorch, onnxruntime-cpu, onnxruntime-mobile, "
                                                   "onnxruntime-xnnpack, executorch-xnnpack, coreml)")
    s.add_argument("--include-failed", action="store_true",
                   help="also measure files that failed export verification (flagged in the table)")
    o = p.add_argument_group("other measurements")
    o.add_argument("--no-accuracy", dest="accuracy", action="store_false", default=None, help="skip accuracy")
    o.add_argument("--accuracy-limit", type=int_in(1), metavar="N",
                   help="a sample of N dev examples, stratified by label (seeded; default: the whole dev set)")
    o.add_argument("--no-deflate", dest="deflate", action="store_false", default=None, help="skip zip-deflate sizes")
    o.add_argument("--no-rss", dest="rss", action="store_false", default=None, help="skip peak-RSS measurement")
    o.add_argument("--jobs", type=int_in(1, MAX_THREADS),
                   help="parallel workers for accuracy and sizes (default: all cores)")
    o.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                   help="recompute accuracy and sizes even for files measured before")
    o.add_argument("--no-verify-sha", action="store_true", help="trust the files without re-hashing them")
    o.add_argument("--teacher-metric", type=float_in(-1, 1),
                   help="the teacher's dev metric (fraction); default: the full hf sub-network's")
    a = p.add_argument_group("Android (adb)")
    a.add_argument("--android", choices=("auto", "on", "off"), default="auto",
                   help="auto: measure on a phone when adb sees one with the demo app installed (default)")
    a.add_argument("--android-serial", help="which device (default: the first attached)")
    a.add_argument("--android-threads", type=int_list(1, MAX_THREADS), help="ORT threads on the phone (default 1,2)")
    a.add_argument("--android-runs", type=int_in(1), default=50, help="timed runs per model on the phone")
    a.add_argument("--android-apk", type=existing_file, help="adb install -r this APK first")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a bad option (one line already printed) or --help: an exit code, as documented
        return int(exc.code or 0)
    from . import harness
    from .manifest_reader import BenchError

    overrides = {k: getattr(args, k) for k in (
        "seq_lens", "cpu_threads", "mobile_threads", "min_runs", "min_seconds", "warmup", "spread_limit",
        "max_group_seconds", "formats", "runtimes", "accuracy", "accuracy_limit", "deflate", "rss", "jobs", "cache")}
    if args.include_failed:
        overrides["include_failed"] = True
    android_options = {"serial": args.android_serial, "threads": args.android_threads, "runs": args.android_runs,
                       "apk": args.android_apk}
    try:
        results = harness.run(args.manifest, args.out, fast=args.fast, data_dir=args.data_dir,
                              teacher_metric=args.teacher_metric, android=args.android, android_options=android_options,
                              verify_files=not args.no_verify_sha, progress=not args.no_progress, **overrides)
    except BenchError as exc:
        print(f"device_bench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the output folder or disk, found late (e.g. full): still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"device_bench: error: {where}{exc.strerror or str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        command = shlex.join(["python", "-m", "device_bench", *(sys.argv[1:] if argv is None else argv)])
        print(f"device_bench: interrupted; no output file was left half-written. Re-run with: {command} "
              f"(accuracy and sizes measured so far are cached)", file=sys.stderr)
        return 130
    from .table import summary

    print(summary(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

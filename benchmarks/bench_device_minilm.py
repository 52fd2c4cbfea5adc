"""Time ``device_bench`` on the packaged MiniLM: 12 sub-models x every exported format, default settings.

    python benchmarks/bench_device_minilm.py --out runs/bench/device_minilm [--export DIR] [--include-failed]

1. Unless ``--export`` names an existing export (e.g. the one ``benchmarks/export_minilm.py`` wrote), builds
   the same rewired MiniLM SST-2 checkpoint as ``export_minilm.py`` (importance, rewiring, a linear-probe
   head; no DynaBERT training, so small sub-models classify poorly) and exports it with
   ``python -m export.all --no-bench``.
2. Runs ``python -m device_bench`` on the manifest in a fresh process with default settings and times it.
3. Prints the issue's three performance checks (``device_bench.table.headlines``) and writes
   ``<out>/bench_device_minilm.json`` (wall time, the harness's phase times, the checks).

``--include-failed`` also measures files that failed export's parity gate (flagged in the table): on an
untrained checkpoint that is where the INT8 files end up, and the INT8 targets need them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from dynabert.fileio import write_json_atomic
from dynabert.files.results import read_results

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GLUE = REPO.parent / "shared" / "data" / "glue"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoint, export, bench, JSON")
    parser.add_argument("--export", type=Path, help="an existing export folder (holding manifest.json)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_GLUE, help="GLUE directory")
    parser.add_argument("--include-failed", action="store_true", help="device_bench --include-failed")
    parser.add_argument("--fast", action="store_true", help="device_bench --fast (CI settings)")
    args = parser.parse_args(argv)

    export_dir = args.export
    if export_dir is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from export_minilm import build_checkpoint

        ckpt = args.out / "ckpt"
        if not (ckpt / "dynabert.json").is_file():
            build_checkpoint(ckpt, args.data_dir, "probe", 8, 1000)
        export_dir = args.out / "export"
        subprocess.run([sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(export_dir),
                        "--no-bench", "--allow-failures"], check=True, cwd=REPO)
    bench_dir = args.out / "bench"
    cmd = [sys.executable, "-m", "device_bench", "--manifest", str(export_dir / "manifest.json"),
           "--out", str(bench_dir), "--no-progress"]
    cmd += ["--include-failed"] if args.include_failed else []
    cmd += ["--fast"] if args.fast else []
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    wall = time.perf_counter() - start

    from device_bench.table import headlines

    results = read_results(bench_dir / "results.json")
    checks = headlines(results)
    print(f"device_bench wall time {wall:.0f} s; phases {results['phase_seconds']}")
    for line in checks:
        print(line)
    record = {"wall_seconds": round(wall, 1), "phase_seconds": results["phase_seconds"],
              "artifacts": len(results["artifacts"]), "rows": len(results["rows"]), "checks": checks,
              "environment": results["environment"], "settings": results["settings"]}
    write_json_atomic(args.out / "bench_device_minilm.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

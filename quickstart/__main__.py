"""``python -m quickstart``: the whole road on the embedded default, in one command.

    train (preset quickstart)  ->  export (every installed format, 12 sub-models, verified)
    ->  device_bench (accuracy, size, latency: the pick table)  ->  pick --install-into android_demo
    ->  the offline APK (when the Android toolchain is installed)

Each step is the stage's own command, run as a child process, so what it prints, its one-line errors and
its exit code are exactly the stage's; the road stops at the first failing step. Re-running the same
command resumes: training resumes its run folder, export keeps every artifact that is up to date,
device_bench reuses its accuracy cache, pick replaces the app's models.

Lighter than the stage commands' defaults, where that does not change what a user learns (all of it is
said in the summary at the end):
  - export skips the fp32 ExecuTorch file (.pte): its INT8 twin, what a phone app ships, is exported and
    measured, and the fp32 lowering is the slowest step of the whole export;
  - device_bench measures one sequence length (32 tokens: 95% of the quickstart's tweets are shorter) and
    one thread count (1, what a phone app's inference thread gets), with fewer timed runs (--fast);
  - the APK packs one ABI (arm64-v8a, what current phones run); `bash android_demo/ci/build_apk.sh` packs all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dynabert.cli_options import Parser, float_in

REPO = Path(__file__).resolve().parents[1]
_POSITIVE = float_in(0, low_open=True)
DEMO = REPO / "android_demo"
APK_TOOLS = ("javac", "java", "aapt", "zipalign", "apksigner", "dexdump", "dalvik-exchange", "zip")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(prog="python -m quickstart", description=__doc__.split("\n\n")[0], error_name="quickstart",
                epilog="Stage by stage: python -m train.all, python -m export.all, python -m device_bench, "
                       "python -m device_bench.pick (each has --help).")
    p.add_argument("--out", type=Path, default=Path("runs/quickstart"),
                   help="run folder: training in it, the export in OUT/export (default runs/quickstart)")
    p.add_argument("--max-latency-ms", type=_POSITIVE, default=3.0,
                   help="pick's latency budget: p50 at 1 thread, 32 tokens, each file in its own runtime "
                        "(default 3 ms on this machine's CPU)")
    p.add_argument("--max-mb", type=_POSITIVE, default=20.0, help="pick's size budget in MB (default 20)")
    p.add_argument("--install-into", type=Path, default=DEMO,
                   help="the Android demo to install the pick into (default: android_demo/)")
    p.add_argument("--no-apk", action="store_true", help="do not build the APK even if the toolchain is there")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


#: Default formats the road leaves to the stage command (see the module docstring).
SKIPPED_FORMATS = ("pte",)


def road_formats() -> list[str]:
    """Every default format whose tool is installed, less :data:`SKIPPED_FORMATS`."""
    from export.formats import resolve_formats

    return [f for f in resolve_formats(None)[0] if f not in SKIPPED_FORMATS]


def _step(name: str, cmd: list[str], timings: list[tuple[str, float]]) -> None:
    print(f"\n=== quickstart: {name}: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO)
    timings.append((name, time.monotonic() - t0))
    if proc.returncode != 0:
        print(f"quickstart: the {name} step failed (exit {proc.returncode}); fix what it said above and run "
              "the same command again: finished steps are kept", file=sys.stderr)
        raise SystemExit(proc.returncode)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out if args.out.is_absolute() else REPO / args.out
    export_dir, bench_dir = out / "export", out / "export" / "bench"
    progress = ["--no-progress"] if args.no_progress else []
    py = sys.executable
    timings: list[tuple[str, float]] = []
    try:
        ckpt = out / "finetune" / "checkpoint"
        if (ckpt / "dynabert.json").is_file():
            print(f"quickstart: training already done ({ckpt}); skipped")
        else:
            resume = ["--resume"] if (out / "config.yaml").is_file() else []
            _step("train", [py, "-m", "train.all", "--preset", "quickstart", "--out", str(out), *resume,
                            *progress], timings)
        _step("export", [py, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(export_dir), "--no-bench",
                         "--formats", ",".join(road_formats()), *progress], timings)
        _step("device_bench", [py, "-m", "device_bench", "--manifest", str(export_dir / "manifest.json"),
                               "--out", str(bench_dir), "--fast", "--seq-lens", "32", "--cpu-threads", "1",
                               "--mobile-threads", "1", *progress], timings)
        _step("pick", [py, "-m", "device_bench.pick", "--results", str(bench_dir / "results.json"),
                       "--max-latency-ms", f"{args.max_latency_ms:g}", "--max-mb", f"{args.max_mb:g}",
                       "--seq-len", "32", "--install-into", str(args.install_into), "--replace"], timings)
        apk_note = "skipped (--no-apk)"
        if not args.no_apk:
            missing = [t for t in APK_TOOLS if shutil.which(t) is None]
            if missing:
                apk_note = (f"skipped: Android toolchain not installed ({', '.join(missing)} missing; "
                            "bash android_demo/ci/install_toolchain.sh)")
            else:
                _step("apk", ["bash", str(args.install_into / "ci" / "build_apk.sh"), "--out", str(out / "apk"),
                              "--abis", "arm64-v8a"], timings)
                apk_note = str(out / "apk" / "dynabert-edge-demo-debug.apk")
    except KeyboardInterrupt:
        print("\nquickstart: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    models = args.install_into / "app" / "src" / "main" / "assets" / "models"
    installed = sorted(p.name for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
    print("\n=== quickstart: done")
    print("  " + "  ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in timings)
          + f"  (total {sum(s for _, s in timings) / 60:.1f} min)")
    print(f"  pick table   {bench_dir / 'table.md'} (first section; printed above)")
    print(f"  report       {bench_dir / 'report.html'} (open it in a browser, offline)")
    print(f"  app assets   {models} ({', '.join(installed) or 'nothing installed'})")
    print(f"  APK          {apk_note}")
    print("  lighter than the stage defaults: no fp32 .pte (its INT8 twin is there); latency at 32 tokens and "
          "1 thread only, --fast timing; the APK packs arm64-v8a only")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())

"""The shared-weight bundle against the standalone files: size, accuracy, latency, switch time, peak RSS.

    python -m export.bundle --export runs/quickstart/export --out runs/bundles      # build + verify first
    python benchmarks/bundle.py --export runs/quickstart/export --bundles runs/bundles --out runs/bench/bundle

Measures each bundle folder found under ``--bundles`` (``bundle/``, ``bundle.int8/``) beside the standalone
files of the same export in one run (device_bench.bundle_bench says how each figure is taken), prints a
markdown report and writes ``<out>/bundle_bench.json`` and ``<out>/bundle_bench.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dynabert.fileio import write_text_atomic  # noqa: E402
from export.bundle_index import FOLDER, PRECISIONS  # noqa: E402


def labelled_dev(export_dir: Path, n: int, data_dir: str | None) -> tuple[list[dict], list[int]]:
    """Up to ``n`` labelled dev examples tokenized with the export's tokenizer, one example per input."""
    from export.bundle import _data_source
    from export.bundle_plan import input_names, read_export
    from export.inputs import read_examples, tokenize

    info = read_export(export_dir)
    names, tokenizer = input_names(info)
    examples = [ex for ex in read_examples(_data_source(info, data_dir), "dev") if isinstance(ex.label, int)][:n]
    return tokenize(examples, tokenizer, names, info.max_length), [ex.label for ex in examples]


def _mb(n) -> str:
    return "n/a" if n is None else f"{n / 1e6:.2f}"


def markdown(results: dict) -> str:
    lines = ["# Shared-weight bundle vs standalone files", ""]
    for precision, r in results["bundles"].items():
        size = r["size"]
        lines += [f"## {precision}: `{r['bundle']}`", "",
                  f"Bundle {_mb(size['bundle_bytes'])} MB ({_mb(size['weights_bytes'])} MB weights.bin + "
                  f"{_mb(size['graphs_bytes'])} MB of {len(r['entries'])} graphs); standalone full file "
                  f"{_mb(size['standalone_full_bytes'])} MB, all {len(r['entries'])} standalone files "
                  f"{_mb(size['standalone_sum_bytes'])} MB. **Bundle / full file = {size['ratio_to_full']}**, "
                  f"bundle / all files = {size['ratio_to_sum']}.", ""]
        acc = {row["entry"]: row for row in r.get("accuracy", [])}
        lat = {row["entry"]: row for row in r["latency"]}
        seq = r["latency"][0]["seq"]
        lines += [f"| entry | reads MB | share | graph KB | agreement with PyTorch (n) | with standalone | "
                  f"acc bundle | acc standalone | p50 ms bundle (seq {seq}, 1 thread) | p50 ms standalone | ratio |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in size["entries"]:
            a, t = acc.get(row["entry"], {}), lat[row["entry"]]
            lines.append(f"| {row['entry']} | {_mb(row['reads_bytes'])} | {row['reads_share']:.1%} | "
                         f"{row['graph_bytes'] / 1e3:.0f} | {row['agreement_with_pytorch']} ({row['verified_n']}) | "
                         f"{row['agreement_with_standalone']} | {a.get('bundle_accuracy', 'n/a')} | "
                         f"{a.get('standalone_accuracy', 'n/a')} | "
                         f"{t['bundle_p50_ms']} | {t.get('standalone_p50_ms', 'n/a')} | {t.get('ratio', 'n/a')} |")
        sw = r["switch"]
        lines += ["", f"Switching (time to the first result after a switch, p50 over {len(sw['sequence']) - 1} "
                      f"switches down the grid and back, seq {sw['seq']}): session created on demand "
                      f"**{sw['on_demand']['p50_to_first_result_ms']} ms** (of which creating the session "
                      f"{sw['on_demand']['p50_create_ms']} ms; standalone files: "
                      f"{sw['standalone_on_demand']['p50_to_first_result_ms']} ms); sessions preloaded "
                      f"**{sw['preloaded']['p50_to_first_result_ms']} ms**.", ""]
        if r.get("memory"):
            lines += ["| entries loaded | kind | peak RSS MB | added by the models MB | file-backed MB | anon MB |",
                      "|---:|---|---:|---:|---:|---:|"]
            for m in r["memory"]:
                if "error" in m:
                    lines.append(f"| {m.get('entries', '')} | {m.get('kind', '')} | {m['error']} | | | |")
                    continue
                lines.append(f"| {m['entries']} | {m['kind']} | {_mb(m['peak_rss_bytes'])} | "
                             f"{_mb(m['models_rss_bytes'])} | {_mb(m['rss_file_bytes'])} | "
                             f"{_mb(m['rss_anon_bytes'])} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from device_bench import bundle_bench
    from dynabert.cli_options import Parser, int_in

    p = Parser(prog="benchmarks/bundle.py", description=__doc__.split("\n\n")[0], error_name="bundle")
    p.add_argument("--export", required=True, type=Path, help="the export folder (manifest.json, standalone files)")
    p.add_argument("--bundles", type=Path, help="folder holding bundle/ and bundle.int8/ (default: --export)")
    p.add_argument("--out", type=Path, default=Path("runs/bench/bundle"), help="where the JSON and markdown go")
    p.add_argument("--precision", default="int8,fp32", help="which bundles to measure (default %(default)s)")
    p.add_argument("--seq", type=int_in(1), default=128, help="tokens per latency input (default %(default)s)")
    p.add_argument("--runs", type=int_in(1), default=20, help="timed runs per file and round (default %(default)s)")
    p.add_argument("--n-accuracy", type=int_in(0), default=500, help="labelled dev examples (0: skip accuracy)")
    p.add_argument("--data-dir", help="the task's dev data (default: what the export's manifest records)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS processes")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    bundles = args.bundles or args.export
    precisions = [x.strip() for x in args.precision.split(",") if x.strip() in PRECISIONS]
    missing = [FOLDER[x] for x in precisions if not (bundles / FOLDER[x] / "bundle.json").is_file()]
    if missing or not precisions:
        print(f"bundle: error: no {', '.join(missing) or 'bundle'} under {bundles}; build it with "
              f"python -m export.bundle --export {args.export} --out {bundles}", file=sys.stderr)
        return 2
    examples = labelled_dev(args.export, args.n_accuracy, args.data_dir) if args.n_accuracy else None
    results = {"export": str(args.export), "bundles": {}}
    for precision in precisions:
        results["bundles"][precision] = bundle_bench.measure(
            bundles / FOLDER[precision], args.export, seq=args.seq, runs=args.runs, accuracy_examples=examples,
            memory=not args.no_memory, progress=not args.no_progress)
    args.out.mkdir(parents=True, exist_ok=True)
    bundle_bench.write(results, args.out / "bundle_bench.json")
    text = markdown(results)
    write_text_atomic(args.out / "bundle_bench.md", text)
    print(text)
    print(f"wrote {args.out / 'bundle_bench.json'} and {args.out / 'bundle_bench.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

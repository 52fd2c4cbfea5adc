"""INT8 at the FLOPs limit (issue #16): the 12 sub-models, fp32 and INT8, beside the optimum-exported teacher.

    python benchmarks/int8_speed.py --export runs/quickstart/export --teacher runs/quickstart/teacher/checkpoint \\
        --out runs/bench/int8_speed

One interleaved run on ONNX Runtime CPU (batch 1, ``--seq`` tokens, ``--threads`` intra-op threads): every
session is created first, then each round times every row (in a rotated order, so the machine's drift and
its neighbours hit all rows alike); the table gives the median (p50) per row, of wall-clock time and of the
calling thread's CPU time (with one thread ONNX Runtime computes on the calling thread, so CPU time leaves
out the time other processes held the core: on a loaded machine the steadier of the two). Rows:

- the teacher exported by ``optimum-cli export onnx`` (what a user would pick instead) and the same
  quantized by ``optimum-cli onnxruntime quantize --avx512_vnni`` (``--teacher``; needs optimum's ONNX
  exporter; without it the full fp32 reference is our ``w1_d1`` fp32);
- each sub-model's ``model.onnx`` (fp32) and ``model.int8.onnx`` as exported, default session (before); or,
  with ``--before-work DIR``, the files another checkout's export code rebuilt into ``DIR`` (run this script
  there with ``--work``) with the session settings it measured: the before/after of one code change;
- each sub-model's fp32 ``model.onnx``, ``model.int8.onnx`` and ``model.int8.ort`` rebuilt from its ``hf/``
  by the current export code, with the session settings that export measures on this machine (ONNX) or
  bakes in for ARM (``.ort``) (after; ``--no-rebuild`` skips).

Columns: p50 ms; x the full fp32 model (the teacher when given); the FLOPs-ideal speed-up over the full
model of the same kind (``flops_seq128`` from the manifest: w1_d1 / row) and the share of it reached (INT8
rows against the full INT8 row of the same variant, fp32 rows against w1_d1 fp32). Writes
``<out>/int8_speed.json`` and ``<out>/int8_speed.md``. Inputs: ``--seq`` token ids drawn (seeded) from the
vocabulary, all attended: latency does not depend on which tokens they are. The export folder is only read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dynabert.arch import subnet_name  # noqa: E402
from dynabert.cli_options import int_in  # noqa: E402
from dynabert.fileio import resolve_inside, write_json_atomic, write_report  # noqa: E402
from dynabert.files.manifest import read_manifest  # noqa: E402
from export import session_settings as S  # noqa: E402
from export.optimize import GRAPHS  # noqa: E402

#: The full sub-model's name (width and depth 1): every ratio is taken against it.
FULL = subnet_name(1.0, 1.0)


@dataclass
class Row:
    model: str
    kind: str  # "fp32" | "int8"
    variant: str  # "teacher (optimum)" | "before" | "after"
    path: Path
    settings: dict
    flops: int | None
    graph: str = ""  # which graph export chose (GRAPHS); "" for a file taken as exported (not recorded there)
    times: list[float] = field(default_factory=list)  # wall ms per run
    cpu: list[float] = field(default_factory=list)  # the calling thread's CPU ms per run
    first: list[float] = field(default_factory=list)  # wall ms of the first run of each visit (after a switch)
    sessions: list = field(default_factory=list)  # one per --instances, each created separately (time_rows)
    by_instance: list[list[float]] = field(default_factory=list)  # wall ms per run, per session instance
    metric: float | None = None  # the task's main dev metric (--dev-metric)

    @property
    def session(self):
        """The first instance: the session the dev metric is scored in."""
        return self.sessions[0]

    @property
    def p50(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_p50(self) -> float:
        return statistics.median(self.cpu)


def optimum_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("optimum.exporters.onnx") is not None


def teacher_files(ckpt: Path, work: Path) -> tuple[Path, Path]:
    """Export ``ckpt`` with optimum-cli (fp32) and quantize it (--avx512_vnni) into ``work``, once."""
    fp32_dir, int8_dir = work / "teacher_onnx", work / "teacher_onnx_int8"
    cli = [sys.executable, "-m", "optimum.commands.optimum_cli"]
    if not (fp32_dir / "model.onnx").is_file():
        subprocess.run([*cli, "export", "onnx", "--model", str(ckpt), "--task", "text-classification", str(fp32_dir)],
                       check=True, capture_output=True)
    if not (int8_dir / "model_quantized.onnx").is_file():
        subprocess.run([*cli, "onnxruntime", "quantize", "--onnx_model", str(fp32_dir), "--avx512_vnni",
                        "-o", str(int8_dir)], check=True, capture_output=True)
    return fp32_dir / "model.onnx", int8_dir / "model_quantized.onnx"


def rebuild(hf_dir: Path, out: Path, seq: int, vocab: int) -> dict[str, tuple[Path, dict, str]]:
    """The sub-model's files as the current export code builds them, with their session settings and the graph
    export chose: ``{"fp32": (model.onnx, settings, "plain"), "int8": ..., "int8 .ort": ...}``. Reused when
    already built."""
    from export.inputs import Inputs
    from export.onnx_export import export_onnx, wrap
    from export.optimize import choose_graph
    from export.ort_format import convert_to_ort
    from export.quantize import quantize_dynamic_int8
    from export.wrapper import load_eager

    saved = read_rebuilt(out)
    if saved is not None:
        return saved
    out.mkdir(parents=True, exist_ok=True)
    model = load_eager(hf_dir)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if model.config.model_type == "bert" else [])
    plain = out / "plain.onnx"
    export_onnx(wrap(model, names), names, plain)
    # 16 inputs, as export times its choices on 16 dev examples (export.pipeline): one is too noisy to choose by.
    probes = [{n: v for n, v in feeds_for(None, seq, vocab, seed).items() if n in names} for seed in range(16)]
    inputs = Inputs(names, probes, [f"random ids {seed}" for seed in range(16)], "bench")
    fp32 = choose_graph(plain, out, out / "model.onnx", inputs)
    quantize_dynamic_int8(plain, out, out / "model.int8.onnx")  # INT8 starts from the plain graph (export.quantize)
    int8 = S.choose(out / "model.int8.onnx", probes)["settings"]
    ort_record = convert_to_ort(out / "model.int8.onnx", out, out / "model.int8.ort", session_settings=S.ARM_DEFAULT)
    plain.unlink()
    saved = {"fp32": ("model.onnx", fp32["session_settings"]["settings"], fp32["graph"]),
             "int8": ("model.int8.onnx", int8, "plain"),
             "int8 .ort": ("model.int8.ort", ort_record["session_settings"], "plain")}
    write_json_atomic(out / REBUILT, saved)
    return read_rebuilt(out)


#: What :func:`rebuild` leaves in a sub-model's folder: ``{kind: [file name, session settings, graph]}`` (graph:
#: one of export.optimize.GRAPHS; older checkouts wrote none: read as "", not recorded).
REBUILT = "settings.json"

def read_rebuilt(out: Path) -> dict[str, tuple[Path, dict, str]] | None:
    """The files, session settings and graph names :func:`rebuild` wrote into ``out`` (None when it has not),
    each file checked to lie inside ``out`` and each settings record validated: a ``--before-work`` folder
    may come from another checkout."""
    record = out / REBUILT
    if not record.is_file():
        return None
    saved = json.loads(record.read_text())
    rebuilt = {}
    for kind, entry in saved.items():
        if not isinstance(entry, list) or len(entry) not in (2, 3):
            raise ValueError(f"{record}: {kind}: expected [file, settings, graph], got {entry!r}")
        name, settings, graph = (*entry, "") if len(entry) == 2 else entry  # "": not recorded there
        if graph not in (*GRAPHS, ""):
            raise ValueError(f"{record}: {kind}: unknown graph {graph!r} (known: {', '.join(GRAPHS)})")
        rebuilt[kind] = (resolve_inside(out, name, f"{record}: {kind}"), S.validate(settings), graph)
    return rebuilt


def feeds_for(session, seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Batch 1, ``seq`` seeded random ids, all attended; only the inputs ``session`` takes (all if None)."""
    rng = np.random.default_rng(seed)
    # Past the special and unused ids where the vocabulary has them (BERT's first 1000); all of a small one.
    ids = rng.integers(1000 if vocab > 1000 else 0, vocab, size=(1, seq), dtype=np.int64)
    values = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return values if session is None else {i.name: values[i.name] for i in session.get_inputs()}


def selected(manifest_path: Path, known: list[str], only: list[str] | None) -> list[str]:
    """The sub-models to time, in the manifest's order: ``only`` (all when empty) plus the full one, which every
    ratio is taken against; a name the manifest does not hold is refused in one line."""
    unknown = [name for name in only or [] if name not in known]
    if unknown:
        raise SystemExit(f"int8_speed: --only {', '.join(unknown)}: not a sub-model of {manifest_path} "
                         f"(has: {', '.join(known)})")
    return [name for name in known if not only or name in only or name == FULL]


def build_rows(args, vocab: int) -> list[Row]:
    manifest = read_manifest(args.export / "manifest.json").raw
    flops = {s["name"]: s["flops_seq128"] for s in manifest["subnets"]}
    rows: list[Row] = []
    if args.teacher is not None:
        if optimum_available():
            fp32, int8 = teacher_files(args.teacher, args.work)
            full = flops.get(FULL)
            rows += [Row("teacher", "fp32", "teacher (optimum)", fp32, S.DEFAULT, full),
                     Row("teacher", "int8", "teacher (optimum --avx512_vnni)", int8, S.DEFAULT, full)]
        else:
            print(f"optimum's ONNX exporter is not installed: the full fp32 reference is {FULL} fp32")
    names = selected(args.export / "manifest.json", [s["name"] for s in manifest["subnets"]], args.only)
    for name in tqdm(names, desc="sub-models"):
        folder = args.export / name
        after = rebuild(folder / "hf", args.work / "after" / name, args.seq, vocab) if args.rebuild else {}
        before = None
        if args.before_work is not None:
            try:
                before = read_rebuilt(args.before_work / "after" / name)
            except ValueError as exc:  # a file name leading out of the folder, unknown settings, bad JSON
                raise SystemExit(f"--before-work {args.before_work}: {exc}") from None
            if before is None:
                raise SystemExit(f"--before-work {args.before_work}: no after/{name}/{REBUILT} "
                                 "(run this script with --work there, from the other checkout)")
        for kind, filename in (("fp32", "model.onnx"), ("int8", "model.int8.onnx"), ("int8 .ort", "model.int8.ort")):
            if before is not None:
                if kind in before:
                    rows.append(Row(name, kind, "before", *before[kind][:2], flops[name], graph=before[kind][2]))
            elif (folder / filename).is_file():
                rows.append(Row(name, kind, "before", folder / filename, S.DEFAULT, flops[name]))
            if kind in after:
                path, settings, graph = after[kind]
                rows.append(Row(name, kind, "after", path, settings, flops[name], graph=graph))
    return rows


def time_rows(rows: list[Row], seq: int, vocab: int, rounds: int, runs: int, threads: int, warmup: int,
              instances: int = 1) -> None:
    """Each round visits every row: ``warmup`` runs, then ``runs`` timed runs, on the row's session instance
    ``round % instances``.

    Why a warm-up at each visit: between two visits the other rows' runs have evicted this row's weights and
    code from the caches, and the first run after the switch paid for it: measured here (8 sub-models, fp32 and
    INT8, interleaved, 1 thread) it was ~0.25-0.3 ms slower than the next runs whatever the model's size,
    a cost of this benchmark's interleaving that an app running one model repeatedly does not pay, and one
    that weighs most on the smallest rows. That first run is still timed and kept apart (``first_p50_ms``).

    Why several instances: two sessions of the same file in one process do not run equally fast. Measured on
    an Intel Xeon (AMX) dev box, 4 sessions each of the w0.25_d1 and w1_d1 INT8 files, interleaved, 40 rounds:
    the w0.25_d1 sessions' p50s spread over 2.07-2.18 ms (5 %), steadily over the whole run (where each
    session's buffers landed, not the machine's drift, which interleaving spreads over all). With one session
    per row, a run's ratios carry that draw; the p50 over ``instances`` sessions (created one set after the
    other, so each set's allocations land elsewhere) averages it out. Each instance's own p50 is reported.
    """
    for instance in range(instances):
        for row in rows:
            row.sessions.append(S.session(row.path, row.settings, threads))
            row.by_instance.append([])
            if instance == 0:
                row.feed = feeds_for(row.session, seq, vocab)
            for _ in range(3):
                row.sessions[-1].run(None, row.feed)
    for r in tqdm(range(rounds), desc="rounds"):
        shift = r % len(rows)
        for row in rows[shift:] + rows[:shift]:
            session, times = row.sessions[r % instances], row.by_instance[r % instances]
            for k in range(warmup + runs):
                start, cpu = time.perf_counter(), time.thread_time()
                session.run(None, row.feed)
                wall, cpu = (time.perf_counter() - start) * 1000.0, (time.thread_time() - cpu) * 1000.0
                if k == 0:
                    row.first.append(wall)
                if k >= warmup:
                    row.cpu.append(cpu)
                    row.times.append(wall)
                    times.append(wall)


def dev_metrics(rows: list[Row], export: Path) -> str:
    """Each row's main metric on the export's whole dev split (device_bench's dev set: the task and data
    export recorded), in the session the row was timed in; returns the metric's name."""
    from device_bench.accuracy import load_dev_set
    from device_bench.manifest_reader import read_manifest as read_typed
    from dynabert.data import compute_metrics

    dev = load_dev_set(read_typed(export / "manifest.json", verify_files=False))
    for row in tqdm(rows, desc=f"dev {dev.main_metric}"):
        names = [i.name for i in row.session.get_inputs()]
        logits = np.concatenate([row.session.run(None, {n: f[n] for n in names})[0] for f in dev.features])
        row.metric = float(compute_metrics(dev.task, logits, dev.labels)[dev.main_metric])
    return dev.main_metric


def table(rows: list[Row]) -> tuple[list[dict], dict]:
    by = {(r.model, r.kind, r.variant): r for r in rows}
    reference = by.get(("teacher", "fp32", "teacher (optimum)")) or by[(FULL, "fp32", "before")]
    records = []
    for r in rows:
        full = by.get((FULL, r.kind, r.variant))
        ideal = reached = reached_cpu = None
        if r.model != "teacher" and full is not None and r.flops:
            ideal = full.flops / r.flops
            reached = (full.p50 / r.p50) / ideal
            reached_cpu = (full.cpu_p50 / r.cpu_p50) / ideal
        records.append({"model": r.model, "kind": r.kind, "variant": r.variant, "file": r.path.name,
                        "graph": r.graph, "session": S.label(r.settings), "settings": r.settings,
                        "p50_ms": round(r.p50, 3),
                        "cpu_p50_ms": round(r.cpu_p50, 3), "first_p50_ms": round(statistics.median(r.first), 3),
                        "instance_p50_ms": [round(statistics.median(t), 3) for t in r.by_instance if t],
                        "x_full_fp32": round(reference.p50 / r.p50, 2),
                        "x_full_fp32_cpu": round(reference.cpu_p50 / r.cpu_p50, 2),
                        "flops_ideal_x": None if ideal is None else round(ideal, 2),
                        "pct_of_flops_ideal": None if reached is None else round(100 * reached, 1),
                        "pct_of_flops_ideal_cpu": None if reached_cpu is None else round(100 * reached_cpu, 1),
                        "dev_metric": None if r.metric is None else round(100 * r.metric, 2),
                        "n": len(r.times)})
    smallest = {v: by.get(("w0.25_d0.5", "int8", v)) for v in ("before", "after")}
    summary = {"reference": f"{reference.model} {reference.kind} ({reference.variant})"}
    for variant, row in smallest.items():
        if row is None:
            continue
        # Every INT8 row: the .onnx files and their .ort twins (what the app runs).
        int8 = [x for x in records if x["kind"].startswith("int8") and x["variant"] == variant
                and x["model"] != FULL and x["pct_of_flops_ideal"] is not None]
        lowest = min(int8, key=lambda x: x["pct_of_flops_ideal"], default=None)
        summary[variant] = {"w0.25_d0.5_int8_dev_metric": None if row.metric is None else round(100 * row.metric, 2),
                            "w0.25_d0.5_int8_x_full_fp32": round(reference.p50 / row.p50, 2),
                            "w0.25_d0.5_int8_x_full_fp32_cpu": round(reference.cpu_p50 / row.cpu_p50, 2),
                            "min_int8_pct_of_flops_ideal": min((x["pct_of_flops_ideal"] for x in int8), default=None),
                            "min_int8_pct_of_flops_ideal_cpu": min((x["pct_of_flops_ideal_cpu"] for x in int8),
                                                                   default=None),
                            "min_int8_row": None if lowest is None else f"{lowest['model']} {lowest['kind']}"}
    return records, summary


def markdown(records: list[dict], summary: dict, args) -> str:
    lines = [f"ONNX Runtime CPU, batch 1, seq {args.seq}, {args.threads} thread(s), {args.rounds} rounds x "
             f"({args.warmup} warm-up + {args.runs} timed) runs, interleaved, {args.instances} session(s) per row "
             f"visited in turn; x full fp32 = against "
             f"{summary['reference']}.", "",
             "Wall = p50 of wall-clock ms; CPU = p50 of the calling thread's CPU ms (with 1 thread ONNX Runtime "
             "computes on it), which leaves out the time other processes held the core.", "",
             *([f"'before' = the files another checkout's export code rebuilt into {args.before_work}, with the "
                "session settings it measured; 'after' = this checkout's.", ""] if args.before_work else []),
             "| model | kind | variant | graph, session | p50 ms wall | p50 ms CPU | × full fp32 wall / CPU "
             "| FLOPs-ideal × | % of FLOPs-ideal wall / CPU |"
             + (f" dev {args.metric_name} |" if args.metric_name else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if args.metric_name else "")]
    for x in records:
        ideal = "" if x["flops_ideal_x"] is None else f"{x['flops_ideal_x']:.2f}"
        pct = ("" if x["pct_of_flops_ideal"] is None
               else f"{x['pct_of_flops_ideal']:.0f} % / {x['pct_of_flops_ideal_cpu']:.0f} %")
        session = f"{x['graph']}, {x['session']}" if x["graph"] else x["session"]
        lines.append(f"| {x['model']} | {x['kind']} | {x['variant']} | {session} | {x['p50_ms']:.2f} | "
                     f"{x['cpu_p50_ms']:.2f} | {x['x_full_fp32']:.2f} / {x['x_full_fp32_cpu']:.2f} | {ideal} | {pct} |"
                     + (f" {x['dev_metric']:.2f} |" if args.metric_name else ""))
    lines.append("")
    for variant in ("before", "after"):
        if variant in summary:
            s = summary[variant]
            lines.append(f"- {variant}: w0.25_d0.5 INT8 = {s['w0.25_d0.5_int8_x_full_fp32']:.2f}x (wall) / "
                         f"{s['w0.25_d0.5_int8_x_full_fp32_cpu']:.2f}x (CPU) the full fp32 model (target >= 15); "
                         f"lowest INT8 share of FLOPs-ideal = {s['min_int8_pct_of_flops_ideal']} % (wall, "
                         f"{s['min_int8_row']}) / {s['min_int8_pct_of_flops_ideal_cpu']} % (CPU) (target >= 75)"
                         + (f"; its dev {args.metric_name} {s['w0.25_d0.5_int8_dev_metric']:.2f}" if args.metric_name
                            else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, required=True, help="an export folder (holds manifest.json); read only")
    parser.add_argument("--teacher", type=Path, help="the fine-tuned teacher checkpoint, exported with optimum-cli")
    parser.add_argument("--work", type=Path, default=Path("runs/bench/int8_speed_work"),
                        help="where the teacher's ONNX files and the rebuilt INT8 files go (reused when present)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/int8_speed"))
    parser.add_argument("--before-work", type=Path,
                        help="the 'before' rows are the files another checkout's export code rebuilt into its --work "
                             "folder (this one), with the session settings it measured, instead of the "
                             "export folder's files in default sessions: before/after of one code change, timed "
                             "in one run")
    parser.add_argument("--dev-metric", action="store_true",
                        help="also score every row on the task's whole dev split (the data export recorded)")
    parser.add_argument("--no-rebuild", dest="rebuild", action="store_false",
                        help="time only the files as exported (no 'after' rows)")
    parser.add_argument("--only", nargs="*", help="sub-model names to include (default: all 12); the full model "
                                                   "w1_d1 is always included (every ratio is against it)")
    parser.add_argument("--seq", type=int_in(1), default=128)
    parser.add_argument("--threads", type=int_in(1), default=1)
    parser.add_argument("--rounds", type=int_in(1), default=25)
    parser.add_argument("--runs", type=int_in(1), default=2, help="timed runs per row per round")
    parser.add_argument("--warmup", type=int_in(0), default=1,
                        help="untimed runs per row per round before the timed ones (see time_rows; 0: none)")
    parser.add_argument("--instances", type=int_in(1), default=3,
                        help="sessions per row, created separately and visited in turn, round by round (see "
                             "time_rows). Memory grows with it: measured with 12 sub-models' before and after "
                             "rows and the teacher, peak RSS 3.4 GB with 1, 9.3 GB with 3")
    args = parser.parse_args(argv)
    if not (args.export / "manifest.json").is_file():
        parser.error(f"{args.export} has no manifest.json (pass the folder export.all wrote)")

    vocab_file = args.export / "tokenizer" / "vocab.txt"
    # Ids from the exported vocabulary (a --vocab task export has fewer rows than the teacher's).
    vocab = len(vocab_file.read_text().splitlines()) if vocab_file.is_file() else 30522
    rows = build_rows(args, vocab)
    time_rows(rows, args.seq, vocab, args.rounds, args.runs, args.threads, args.warmup, args.instances)
    args.metric_name = dev_metrics(rows, args.export) if args.dev_metric else None
    records, summary = table(rows)
    text = markdown(records, summary, args)
    print(text)
    from device_bench.harness import environment

    record = {"environment": environment(), "seq": args.seq, "threads": args.threads, "rounds": args.rounds,
              "runs": args.runs, "warmup": args.warmup, "instances": args.instances, "dev_metric": args.metric_name,
              "rows": records, "summary": summary}
    print("wrote {} and {}".format(*write_report(args.out, "int8_speed", record, text)))


if __name__ == "__main__":
    main()

"""The real run: DynaBERT on SST-2 with the packaged MiniLM teacher, end to end, and its published report.

    python benchmarks/sst2_minilm.py                  # everything below; re-run to continue after a stop
    python benchmarks/sst2_minilm.py --publish-only   # rewrite docs/results/ from the run's files

Steps (each skipped when its output is complete, so the command resumes where it stopped):

1. train: ``python -m train.all --preset sst2-minilm`` into ``runs/sst2-minilm`` (teacher on all of SST-2
   train, then stages 1-3; ``--resume`` after an interruption).
2. ablations (the paper's), from that run's teacher checkpoint, into ``runs/sst2-minilm-ablations``:
   ``alone_w0.25_d1`` and ``alone_w0.25_d0.5``: the same-size network (rewired teacher, sliced) distilled
   alone from the teacher for as many steps as DynaBERT trained after the teacher (stages 1-3);
   ``no_rewire``: stage 1 without rewiring (the paper measures rewiring on DynaBERT_w).
3. export: ``python -m export.all --max-length 128`` on the run's final checkpoint, which also runs
   device_bench (accuracy, size, latency at seq 32 and 128).
4. publish: ``docs/results/sst2-minilm.md``, ``sst2-minilm.json`` and the Pareto plot, from the files of
   steps 1-3 only (train summaries and checkpoint metadata, the export manifest, device_bench's results).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dynabert.arch import subnet_name
from dynabert.fileio import atomic_file, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
GLUE = REPO.parent / "shared" / "data" / "glue"
RUN = REPO / "runs" / "sst2-minilm"
ABLATIONS = REPO / "runs" / "sst2-minilm-ablations"
DOCS = REPO / "docs" / "results"
NAME = "sst2-minilm"

# DynaBERT paper (Hou et al. 2020), Table 1, SST-2 dev accuracy: BERT-base teacher and DynaBERT sub-networks.
PAPER_TEACHER = 92.9
PAPER = {1.0: (93.2, 93.3, 92.7), 0.75: (93.0, 93.1, 92.8), 0.5: (93.3, 92.7, 91.6), 0.25: (92.8, 92.0, 92.0)}
WIDTHS, DEPTHS = (1.0, 0.75, 0.5, 0.25), (1.0, 0.75, 0.5)
LATENCY_VIEWS = (  # (label, format, runtime, threads)
    ("ONNX fp32, ORT 1 thread", "onnx", "onnxruntime-cpu", 1),
    ("ONNX INT8, ORT 1 thread", "onnx-int8", "onnxruntime-cpu", 1),
    (".ort INT8, mobile settings, 1 thread", "ort-int8", "onnxruntime-mobile", 1),
    ("ExecuTorch XNNPACK INT8, 1 thread", "pte-int8", "executorch-xnnpack", 1),
)


def sh(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


def finished(run: Path, stage: str) -> bool:
    return (run / stage / "summary.json").is_file()


# ---------------------------------------------------------------------------------------------- steps


def train() -> None:
    if (RUN / "summary.json").is_file():
        return
    cmd = [sys.executable, "-m", "train.all", "--preset", NAME, "--data-dir", str(GLUE), "--out", str(RUN)]
    sh(cmd + (["--resume"] if (RUN / "config.yaml").is_file() else []))


def ablation_settings(run: Path = RUN) -> dict[str, list[str]]:
    """``--set`` overrides per ablation; the budgets follow the main run's config."""
    stages = yaml.safe_load((run / "config.yaml").read_text())["stages"]
    after_teacher = sum(stages[s]["max_steps"] for s in ("width", "depth", "finetune") if stages[s]["enabled"])
    alone = ["stages.width.widths=[0.25]", f"stages.width.max_steps={after_teacher}",
             f"stages.width.eval_every={max(1, after_teacher // 4)}"]
    return {
        "alone_w0.25_d1": alone,
        "alone_w0.25_d0.5": [*alone, "stages.width.depth_mult=0.5"],
        "no_rewire": ["stages.width.rewire=false"],
    }


def ablations() -> None:
    teacher = RUN / "teacher" / "checkpoint"
    for label, overrides in ablation_settings().items():
        out = ABLATIONS / label
        if finished(out, "width"):
            continue
        cmd = [sys.executable, "-m", "train.width", "--preset", NAME, "--data-dir", str(GLUE), "--teacher",
               str(teacher), "--out", str(out)]
        for item in overrides:
            cmd += ["--set", item]
        sh(cmd + (["--resume"] if (out / "config.yaml").is_file() else []))


def export() -> None:
    summary = json.loads((RUN / "summary.json").read_text())
    if (RUN / "export" / "bench" / "results.json").is_file():
        return
    sh([sys.executable, "-m", "export.all", "--ckpt", str(REPO / summary["checkpoint"]), "--out", str(RUN / "export"),
        "--max-length", "128", "--data-dir", str(GLUE), "--no-progress"])


# ---------------------------------------------------------------------------------------------- publish


def _metrics(ckpt: Path, metric: str) -> dict[str, float]:
    """The checkpoint's recorded dev ``metric`` per sub-network (``extra.metrics``: name -> {metric: value})."""
    from dynabert.checkpoint import read_meta

    return {name: values[metric] for name, values in read_meta(ckpt).extra["metrics"].items()}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def collect(run: Path = RUN, ablations_dir: Path = ABLATIONS) -> dict:
    """Everything the document shows, read from the run's files only."""
    summary = json.loads((run / "summary.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    bench = json.loads((run / "export" / "bench" / "results.json").read_text())
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    teacher = summary["stages"]["teacher"]["best_score"]
    dev = summary["dev"]
    by_art = {a["id"]: a for a in bench["artifacts"]}

    def acc(w: float, d: float, fmt: str) -> float | None:
        art = by_art.get(f"{subnet_name(w, d)}/{fmt}")
        return None if art is None or art.get("metric") is None else art["metric"]

    grid = {fmt: {subnet_name(w, d): acc(w, d, fmt) for w in WIDTHS for d in DEPTHS}
            for fmt in ("hf", "onnx", "onnx-int8", "ort-int8", "pte", "pte-int8")}
    grid["pytorch_training_eval"] = {subnet_name(w, d): dev[subnet_name(w, d)] for w in WIDTHS for d in DEPTHS}
    coreml = {a["id"]: a.get("status") for a in manifest["artifacts"] if a["format"] == "coreml-int8"}
    approx = [a for a in manifest["artifacts"] if (a.get("parity") or {}).get("gate") == "approx"]
    verification = {
        "artifacts": len(manifest["artifacts"]),
        "status": {s: sum(a.get("status") == s for a in manifest["artifacts"])
                   for s in ("passed", "unverified", "failed")},
        "lowest_int8_argmax_agreement": min((a["parity"]["argmax_agreement"] for a in approx), default=None),
        "int8_inputs": max((a["parity"]["n"] for a in approx), default=None),
    }

    latency = {}
    for label, fmt, runtime, threads in LATENCY_VIEWS:
        for seq in bench["settings"]["seq_lens"]:
            rows = {r["subnet"]: r for r in bench["rows"] if r["format"] == fmt and r["runtime"] == runtime
                    and r["threads"] == threads and r["seq_len"] == seq}
            if rows:
                latency[f"{label} @ seq {seq}"] = {
                    s: {"p50_ms": r.get("p50_ms"), "vs_full": r.get("vs_full"),
                        "vs_full_onnx_fp32": r.get("vs_full_onnx_fp32"), "unstable": r.get("unstable"),
                        "status": r["status"], "reason": r.get("reason")} for s, r in rows.items()}
    sizes = {fmt: {a["subnet"]: a["bytes"] for a in manifest["artifacts"] if a["format"] == fmt}
             for fmt in ("onnx", "onnx-int8", "ort-int8", "coreml-int8", "pte-int8")}

    ablation = {}
    metric = summary["main_metric"]
    main_width = _metrics(run / "width" / "checkpoint", metric)
    for label in ablation_settings(run):
        ckpt = ablations_dir / label / "width" / "checkpoint"
        if ckpt.is_dir():
            ablation[label] = {"metrics": _metrics(ckpt, metric),
                               "summary": json.loads((ablations_dir / label / "width" / "summary.json").read_text())}
    scores = list(grid["pytorch_training_eval"].values())
    int8_gaps = {f"{s}/{fmt}": grid[fmt][s] - grid["hf"][s] for fmt in ("onnx-int8", "ort-int8", "pte-int8")
                 for s in grid["hf"] if grid[fmt].get(s) is not None and grid["hf"][s] is not None}
    smallest, full = subnet_name(0.25, 0.5), subnet_name(1.0, 1.0)
    targets = {
        "full_ge_teacher": {"value": dev[full], "target": teacher, "met": dev[full] >= teacher},
        "mean_ge_teacher_minus_1.5": {"value": sum(scores) / len(scores), "target": teacher - 0.015,
                                      "met": sum(scores) / len(scores) >= teacher - 0.015},
        "smallest_ge_teacher_minus_3": {"value": dev[smallest], "target": teacher - 0.03,
                                        "met": dev[smallest] >= teacher - 0.03},
        "int8_within_0.5_of_pytorch": {"worst": min(int8_gaps.values()) if int8_gaps else None,
                                       "worst_file": min(int8_gaps, key=int8_gaps.get) if int8_gaps else None,
                                       "met": bool(int8_gaps) and min(int8_gaps.values()) >= -0.005},
    }
    return {
        "task": "SST-2", "data": {"glue_dir": "../shared/data/glue/SST-2", "train_rows": 67349, "dev_rows": 872},
        "config": config, "stages": summary["stages"], "teacher_dev_accuracy": teacher,
        "dev_accuracy": grid, "coreml_int8": coreml, "export_verification": verification, "sizes_bytes": sizes,
        "latency": latency,
        "bench": {"environment": bench["environment"], "settings": bench["settings"]},
        "ablations": {"dynabert_width_stage": main_width, "dynabert_final": {s: dev[s] for s in dev}, **ablation},
        "paper": {"teacher": PAPER_TEACHER, "grid": {subnet_name(w, d): PAPER[w][i] for w in WIDTHS
                                                     for i, d in enumerate(DEPTHS)}},
        "targets": targets,
    }


def _grid_table(values: dict[str, float | None], fmt=_pct) -> list[str]:
    lines = ["| width \\ depth | 1.0 | 0.75 | 0.5 |", "|---|---|---|---|"]
    for w in WIDTHS:
        lines.append(f"| {w} | " + " | ".join(fmt(values.get(subnet_name(w, d))) for d in DEPTHS) + " |")
    return lines


def render(r: dict, notes: str) -> str:
    t = r["teacher_dev_accuracy"]
    g = r["dev_accuracy"]
    out = [f"# DynaBERT on SST-2 with the MiniLM teacher ({NAME})", "",
           "Generated by `python benchmarks/sst2_minilm.py` from the run's own files (numbers in "
           f"[`{NAME}.json`]({NAME}.json)). Dev accuracy in %, SST-2 dev (872 sentences).", ""]
    if notes:
        out += [notes.strip(), ""]
    out += ["## Training", "", "| stage | steps | best step | time (s) | best dev score |", "|---|---|---|---|---|"]
    for stage, s in r["stages"].items():
        out.append(f"| {stage} | {s['steps']} | {s['best_step']} | {s['train_seconds']:.0f} | {s['best_score']:.4f} |")
    cfg = r["config"]
    out += ["", f"Config: preset `{NAME}` (seed {cfg['seed']}, batch {cfg['batch_size']}, max length "
            f"{cfg['data']['max_length']}, {cfg['threads']} CPU thread); the stage score is the sum of the dev "
            "accuracy over the stage's sub-networks. The full resolved config is in the JSON.", "",
            f"## Teacher: {_pct(t)}", "",
            "## The 12 sub-networks (PyTorch, the training's dev evaluation)", ""]
    out += _grid_table(g["pytorch_training_eval"])
    for fmt, label in (("hf", "PyTorch, the sliced stock `hf/` checkpoint (device_bench)"),
                       ("onnx", "ONNX fp32 (ONNX Runtime)"), ("onnx-int8", "ONNX INT8 (ONNX Runtime)"),
                       ("ort-int8", "`.ort` INT8 (ONNX Runtime, mobile settings)"),
                       ("pte-int8", "ExecuTorch `.pte` INT8 (XNNPACK)")):
        if any(v is not None for v in g[fmt].values()):
            out += ["", f"### {label}", ""] + _grid_table(g[fmt])
    out += ["", "Core ML INT8-weights: exported and spec-validated; accuracy not run (Core ML prediction needs "
            "macOS)." if all(v == "unverified" for v in r["coreml_int8"].values()) else
            f"Core ML INT8-weights status: {r['coreml_int8']}"]
    v = r["export_verification"]
    if v["lowest_int8_argmax_agreement"] is not None:
        out += ["", f"Export verification: {v['artifacts']} files, {v['status']['passed']} passed, "
                f"{v['status']['unverified']} unverified (Core ML), {v['status']['failed']} failed; the lowest INT8 "
                f"argmax agreement with PyTorch is {v['lowest_int8_argmax_agreement']:.3f} on {v['int8_inputs']} "
                "dev inputs."]
    out += ["", "## Against the paper (BERT-base teacher 92.9)", "", "The paper's DynaBERT on SST-2 (Hou et al. 2020, "
            "Table 1), dev accuracy:", ""]
    out += _grid_table(r["paper"]["grid"], fmt=lambda v: f"{v:.1f}")
    out += ["",
            "Drop from each teacher (points; negative = below the teacher), ours / paper:", "",
            "| width \\ depth | 1.0 | 0.75 | 0.5 |", "|---|---|---|---|"]
    for w in WIDTHS:
        cells = []
        for d in DEPTHS:
            ours = 100 * (g["pytorch_training_eval"][subnet_name(w, d)] - t)
            paper = r["paper"]["grid"][subnet_name(w, d)] - PAPER_TEACHER
            cells.append(f"{ours:+.1f} / {paper:+.1f}")
        out.append(f"| {w} | " + " | ".join(cells) + " |")
    out += ["", "## Sizes (MB)", "", "| sub-network | ONNX fp32 | ONNX INT8 | .ort INT8 | Core ML INT8 | .pte INT8 |",
            "|---|---|---|---|---|---|"]
    for w in WIDTHS:
        for d in DEPTHS:
            s = subnet_name(w, d)
            cells = [f"{r['sizes_bytes'][f].get(s, 0) / 1e6:.1f}" if r["sizes_bytes"][f].get(s) else "—"
                     for f in ("onnx", "onnx-int8", "ort-int8", "coreml-int8", "pte-int8")]
            out.append(f"| {s} | " + " | ".join(cells) + " |")
    out += ["", "## Latency (batch 1, p50 ms, and speed-up over the full model in the same format)", ""]
    env = r["bench"]["environment"]
    out += [f"Measured by device_bench on {env.get('cpu')} ({env.get('cores')} cores), load average "
            f"{env.get('loadavg_at_start')} at start; interleaved rounds; `!` = UNSTABLE (p90/p50 > "
            f"{r['bench']['settings'].get('spread_limit')}).", ""]
    smallest, full_fp32 = subnet_name(0.25, 0.5), "ONNX fp32, ORT 1 thread"
    for view, rows in r["latency"].items():
        row = rows.get(smallest) or {}
        if "INT8" in view and row.get("vs_full_onnx_fp32"):
            out.append(f"- {smallest} {view}: {1 / row['vs_full_onnx_fp32']:.1f}× faster than the full model's "
                       f"{full_fp32} at the same length")
    out.append("")
    for view, rows in r["latency"].items():
        out += [f"**{view}**", "", "| width \\ depth | 1.0 | 0.75 | 0.5 |", "|---|---|---|---|"]
        for w in WIDTHS:
            cells = []
            for d in DEPTHS:
                row = rows.get(subnet_name(w, d))
                if row is None or row["status"] != "ok":
                    cells.append("n/a" if row is None else f"n/a ({row['reason']})")
                else:
                    cells.append(f"{row['p50_ms']:.2f} ms ({1 / row['vs_full']:.1f}×){'!' if row['unstable'] else ''}")
            out.append(f"| {w} | " + " | ".join(cells) + " |")
        out.append("")
    out += [f"![Pareto: accuracy vs latency]({NAME}-pareto.png)", "", "## Ablations (width 0.25)", ""]
    ab = r["ablations"]
    final = ab["dynabert_final"]
    rows = [("DynaBERT sub-network (final)", final.get("w0.25_d1"), final.get("w0.25_d0.5"))]
    for label, d_key in (("alone_w0.25_d1", "w0.25_d1"), ("alone_w0.25_d0.5", "w0.25_d0.5")):
        if label in ab:
            steps = ab[label]["summary"]["steps"]
            rows.append((f"trained alone ({label}, {steps} steps)",
                         ab[label]["metrics"].get(d_key) if d_key == "w0.25_d1" else None,
                         ab[label]["metrics"].get(d_key) if d_key == "w0.25_d0.5" else None))
    out += ["| network | w0.25 d1.0 | w0.25 d0.5 |", "|---|---|---|"]
    out += [f"| {label} | {_pct(a)} | {_pct(b)} |" for label, a, b in rows]
    if "no_rewire" in ab:
        out += ["", "Rewiring, on DynaBERT_w (stage 1, same steps), dev accuracy per width at depth 1.0:", "",
                "| | 1.0 | 0.75 | 0.5 | 0.25 |", "|---|---|---|---|---|"]
        for label, metrics in (("with rewiring", ab["dynabert_width_stage"]), ("without", ab["no_rewire"]["metrics"])):
            out.append(f"| {label} | " + " | ".join(_pct(metrics.get(subnet_name(w, 1.0))) for w in WIDTHS) + " |")
    out += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    tg = r["targets"]
    out.append(f"| (1.0, 1.0) ≥ teacher ({_pct(t)}) | {_pct(tg['full_ge_teacher']['value'])} | "
               f"{'yes' if tg['full_ge_teacher']['met'] else 'no'} |")
    mean = tg["mean_ge_teacher_minus_1.5"]
    out.append(f"| mean of the 12 ≥ teacher − 1.5 ({_pct(t - 0.015)}) | {_pct(mean['value'])} | "
               f"{'yes' if mean['met'] else 'no'} |")
    out.append(f"| smallest ≥ teacher − 3.0 ({_pct(t - 0.03)}) | {_pct(tg['smallest_ge_teacher_minus_3']['value'])} | "
               f"{'yes' if tg['smallest_ge_teacher_minus_3']['met'] else 'no'} |")
    i8 = tg["int8_within_0.5_of_pytorch"]
    worst = "—" if i8["worst"] is None else f"{100 * i8['worst']:+.2f} ({i8['worst_file']})"
    out.append(f"| every INT8 file within 0.5 of its PyTorch sub-network | worst {worst} | "
               f"{'yes' if i8['met'] else 'no'} |")
    return "\n".join(out) + "\n"


def publish(notes_file: Path | None, run: Path = RUN, ablations_dir: Path = ABLATIONS, docs: Path = DOCS) -> Path:
    results = collect(run, ablations_dir)
    docs.mkdir(parents=True, exist_ok=True)
    notes = notes_file.read_text() if notes_file and notes_file.is_file() else ""
    write_text_atomic(docs / f"{NAME}.json", json.dumps(results, indent=1, default=str) + "\n")
    write_text_atomic(docs / f"{NAME}.md", render(results, notes))
    png = run / "export" / "bench" / "pareto_latency.png"
    if png.is_file():
        with atomic_file(docs / f"{NAME}-pareto.png") as tmp:
            shutil.copyfile(png, tmp)
    print(f"wrote {docs / (NAME + '.md')}")
    return docs / f"{NAME}.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--publish-only", action="store_true", help="only rewrite docs/results/ from the run's files")
    p.add_argument("--skip-ablations", action="store_true", help="train, export and publish without the ablations")
    p.add_argument("--notes", type=Path, default=DOCS / f"{NAME}.notes.md",
                   help="hand-written notes placed under the title (what the files cannot say: machine load, pauses)")
    args = p.parse_args(argv)
    try:
        if not args.publish_only:
            train()
            if not args.skip_ablations:
                ablations()
            export()
        publish(args.notes)
    except subprocess.CalledProcessError as exc:
        print(f"sst2_minilm: step failed (exit {exc.returncode}): {' '.join(map(str, exc.cmd))}; "
              "fix what it printed above and run the same command again to continue", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"sst2_minilm: missing {exc.filename}: run without --publish-only to produce it", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The real runs: DynaBERT on a GLUE task with the packaged MiniLM teacher, end to end, and its published report.

    python benchmarks/glue_minilm.py --task mrpc                  # everything below; re-run to continue after a stop
    python benchmarks/glue_minilm.py --task mrpc --publish-only   # rewrite docs/results/ from the run's files

Tasks: the GLUE tasks of the DynaBERT paper's Table 1 that are on disk here: sst2, mrpc, stsb, cola
(``benchmarks/sst2_minilm.py`` is ``--task sst2``). Steps, each skipped when its output is complete, so the
command resumes where it stopped:

1. train: ``python -m train.all --preset <task>-minilm`` into ``runs/<task>-minilm`` (teacher, then stages
   1-3; ``--resume`` after an interruption).
2. ablations (SST-2 only; the paper's), from that run's teacher checkpoint, into ``runs/sst2-minilm-ablations``:
   ``alone_w0.25_d1`` and ``alone_w0.25_d0.5``: the same-size network (rewired teacher, sliced) distilled
   alone from the teacher for as many steps as DynaBERT trained after the teacher (stages 1-3);
   ``no_rewire``: stage 1 without rewiring (the paper measures rewiring on DynaBERT_w).
3. export: ``python -m export.all --max-length 128`` on the run's final checkpoint, which also runs
   device_bench (the task's metric, size, latency at seq 32 and 128).
4. publish: ``docs/results/<task>-minilm.md``, ``.json`` and the Pareto plot, from the files of steps 1-3
   only (train summaries and checkpoint metadata, the export manifest, device_bench's results).

Every score is the task's own metric (GLUE's: accuracy, F1 of the positive class, Matthews correlation,
Pearson/Spearman), higher is better, shown ×100; where the paper reports another of the task's metrics
than our main one (MRPC: accuracy, STS-B: Spearman), the comparison with the paper uses the paper's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from dynabert.arch import subnet_name
from dynabert.data import get_task
from dynabert.fileio import atomic_file, write_text_atomic
from dynabert.files.manifest import read_manifest
from dynabert.files.results import read_results

REPO = Path(__file__).resolve().parents[1]
GLUE = REPO.parent / "shared" / "data" / "glue"
DOCS = REPO / "docs" / "results"
WIDTHS, DEPTHS = (1.0, 0.75, 0.5, 0.25), (1.0, 0.75, 0.5)
LATENCY_VIEWS = (  # (label, format, runtime, threads)
    ("ONNX fp32, ORT 1 thread", "onnx", "onnxruntime-cpu", 1),
    ("ONNX INT8, ORT 1 thread", "onnx-int8", "onnxruntime-cpu", 1),
    (".ort INT8, mobile settings, 1 thread", "ort-int8", "onnxruntime-mobile", 1),
    ("ExecuTorch XNNPACK INT8, 1 thread", "pte-int8", "executorch-xnnpack", 1),
)
INT8_FORMATS = ("onnx-int8", "ort-int8", "pte-int8")  # the files the INT8 target is checked on
FORMAT_GRIDS = ("hf", "onnx", "onnx-int8", "ort-int8", "pte", "pte-int8")
METRIC_LABELS = {"accuracy": "accuracy", "f1": "F1", "mcc": "Matthews correlation", "pearson": "Pearson",
                 "spearman": "Spearman"}


@dataclass(frozen=True)
class Paper:
    """The DynaBERT paper's row for a task (Hou et al. 2020, Table 1; BERT-base teacher), in its metric ×100."""

    metric: str  # the one the paper reports (it quotes accuracy for MRPC, Spearman for STS-B)
    teacher: float
    grid: dict[float, tuple[float, float, float]]  # width -> (depth 1.0, 0.75, 0.5)


@dataclass(frozen=True)
class TaskRun:
    """One task's real run: its preset, its data's size, the paper's numbers and how the document reads."""

    task: str  # the dynabert.data task key
    train_rows: int  # of ../shared/data/glue/<dir>/train.tsv (tests/test_glue_presets.py checks the files)
    dev_rows: int
    unit: str  # what one dev row is, for the document: "sentences", "sentence pairs"
    paper: Paper
    command: str  # how the document says it was generated
    ablations: bool = False  # the paper's ablations (three extra stage-1 runs) on this task
    int8_tolerance: float = 0.01  # the target: no INT8 file more than this (metric fraction) below PyTorch
    # Reduced-precision files verified on this many dev rows (None: export's default). Export's metric gate
    # (export.verify.MAX_METRIC_DROP) reads the verification rows' labels; where the metric is fragile a sample
    # misjudges files (see CoLA below), so the whole dev split is used.
    n_verify_int8: int | None = None
    # 1: the layout sst2-minilm.md was published in, kept so that it regenerates byte for byte from its run's
    # files; 2 adds the paper's metric and the mean of the 12 against the paper's (document and JSON).
    layout: int = 2

    @property
    def name(self) -> str:
        return f"{self.task}-minilm"


RUNS: dict[str, TaskRun] = {run.task: run for run in (
    TaskRun("sst2", 67349, 872, "sentences",
            Paper("accuracy", 92.9, {1.0: (93.2, 93.3, 92.7), 0.75: (93.0, 93.1, 92.8), 0.5: (93.3, 92.7, 91.6),
                                     0.25: (92.8, 92.0, 92.0)}),
            "python benchmarks/sst2_minilm.py", ablations=True, int8_tolerance=0.005, layout=1),
    # The paper: "Matthews correlation for CoLA, Spearman correlation for STS-B and accuracy for the other
    # tasks"; its MRPC teacher (87.7) is BERT-base's dev accuracy, not its F1 (~90).
    TaskRun("mrpc", 3667, 408, "sentence pairs",
            Paper("accuracy", 87.7, {1.0: (86.3, 85.8, 85.0), 0.75: (86.5, 85.5, 84.1), 0.5: (84.8, 84.1, 83.1),
                                     0.25: (83.8, 83.8, 81.4)}),
            "python benchmarks/glue_minilm.py --task mrpc"),
    TaskRun("stsb", 5749, 1500, "sentence pairs",
            Paper("spearman", 89.8, {1.0: (90.1, 89.5, 88.6), 0.75: (90.0, 89.4, 88.5), 0.5: (89.8, 89.2, 88.2),
                                     0.25: (89.2, 88.3, 87.0)}),
            "python benchmarks/glue_minilm.py --task stsb"),
    TaskRun("cola", 8551, 1043, "sentences",
            Paper("mcc", 58.1, {1.0: (59.7, 59.1, 54.6), 0.75: (60.8, 59.6, 53.2), 0.5: (58.4, 56.8, 48.5),
                                0.25: (50.9, 51.6, 43.7)}),
            "python benchmarks/glue_minilm.py --task cola",
            # Measured on this run: a block-wise INT8 file lost 1.8 Matthews points on export's 500 dev rows
            # and 0.9 on all 1,043; dynamic INT8 files at 98.0-99.0 % agreement lost 1.3-2.2 on all of them.
            n_verify_int8=1043),
)}


def task_run(name: str) -> TaskRun:
    """The run of ``name`` ("mrpc", "STS-B", "sst-2", ...), or a one-line ValueError listing the tasks."""
    try:
        key = get_task(name).name
    except ValueError:
        key = None
    if key not in RUNS:
        raise ValueError(f"no published run for task {name!r}; tasks: {', '.join(RUNS)}")
    return RUNS[key]


def run_dir(spec: TaskRun) -> Path:
    return REPO / "runs" / spec.name


def ablations_dir(spec: TaskRun) -> Path:
    return REPO / "runs" / f"{spec.name}-ablations"


def sh(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


def finished(run: Path, stage: str) -> bool:
    return (run / stage / "summary.json").is_file()


# ---------------------------------------------------------------------------------------------- steps


def train(spec: TaskRun) -> None:
    run = run_dir(spec)
    if (run / "summary.json").is_file():
        return
    cmd = [sys.executable, "-m", "train.all", "--preset", spec.name, "--data-dir", str(GLUE), "--out", str(run)]
    sh(cmd + (["--resume"] if (run / "config.yaml").is_file() else []))


def ablation_settings(run: Path) -> dict[str, list[str]]:
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


def ablations(spec: TaskRun) -> None:
    teacher = run_dir(spec) / "teacher" / "checkpoint"
    for label, overrides in ablation_settings(run_dir(spec)).items():
        out = ablations_dir(spec) / label
        if finished(out, "width"):
            continue
        cmd = [sys.executable, "-m", "train.width", "--preset", spec.name, "--data-dir", str(GLUE), "--teacher",
               str(teacher), "--out", str(out)]
        for item in overrides:
            cmd += ["--set", item]
        sh(cmd + (["--resume"] if (out / "config.yaml").is_file() else []))


def _failed_artifacts(export_dir: Path) -> list[str]:
    """Artifacts the export marked failed: device_bench still measures the rest, so its results alone do not
    say the step is complete (a re-run rebuilds exactly these, export keeps what passed)."""
    manifest = read_manifest(export_dir / "manifest.json")
    return [f"{a.subnet}/{a.format}" for a in manifest.artifacts if a.status == "failed"]


def export(spec: TaskRun) -> None:
    run = run_dir(spec)
    summary = json.loads((run / "summary.json").read_text())
    if (run / "export" / "bench" / "results.json").is_file() and not _failed_artifacts(run / "export"):
        return
    sh([sys.executable, "-m", "export.all", "--ckpt", str(REPO / summary["checkpoint"]), "--out", str(run / "export"),
        "--max-length", "128", "--data-dir", str(GLUE), "--no-progress",
        *(["--n-verify-int8", str(spec.n_verify_int8)] if spec.n_verify_int8 else [])])


# ---------------------------------------------------------------------------------------------- collect


def _metrics(ckpt: Path, metric: str) -> dict[str, float]:
    """The checkpoint's recorded dev ``metric`` per sub-network (``extra.metrics``: name -> {metric: value})."""
    from dynabert.checkpoint import read_meta

    return {name: values[metric] for name, values in read_meta(ckpt).extra["metrics"].items()}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _names() -> list[str]:
    return [subnet_name(w, d) for w in WIDTHS for d in DEPTHS]


def _final_checkpoint(run: Path, summary: dict) -> Path:
    """The final stage's checkpoint inside ``run`` (the summary's path is relative to where training ran)."""
    return run / Path(summary["checkpoint"]).parent.name / "checkpoint"


def _metric_grids(metric: str, main: str, by_art: dict, dev: dict[str, float], final_ckpt: Path) -> dict:
    """``{format: {sub-network: value}}`` of one metric, per exported format and the training's dev evaluation."""
    def value(name: str, fmt: str) -> float | None:
        art = by_art.get(f"{name}/{fmt}")
        if art is None:
            return None
        # device_bench's artifact: "metric" is the main metric, "accuracy.metrics" all of the task's
        return art.get("metric") if metric == main else ((art.get("accuracy") or {}).get("metrics") or {}).get(metric)

    grid = {fmt: {name: value(name, fmt) for name in _names()} for fmt in FORMAT_GRIDS}
    trained = dev if metric == main else _metrics(final_ckpt, metric)
    grid["pytorch_training_eval"] = {name: trained[name] for name in _names()}
    return grid


def _verification(manifest: dict, regression: bool) -> dict:
    approx = [a for a in manifest["artifacts"] if (a.get("parity") or {}).get("gate") == "approx"]
    out = {
        "artifacts": len(manifest["artifacts"]),
        "status": {s: sum(a.get("status") == s for a in manifest["artifacts"])
                   for s in ("passed", "unverified", "failed")},
    }
    # A regression head has one output and no argmax: its reduced-precision files are gated on the Pearson
    # correlation of their scores with PyTorch's.
    key, field = (("lowest_int8_pearson_with_pytorch", "pearson_with_reference") if regression else
                  ("lowest_int8_argmax_agreement", "argmax_agreement"))
    values = [a["parity"][field] for a in approx if a["parity"].get(field) is not None]
    out[key] = min(values, default=None)
    out["int8_inputs"] = max((a["parity"]["n"] for a in approx), default=None)
    # Exports before the metric gate (export.verify.MAX_METRIC_DROP) have no metric_drop: left out then.
    drops = [a for a in approx if a["parity"].get("metric_drop") is not None]
    if drops:
        worst = max(drops, key=lambda a: a["parity"]["metric_drop"])
        out["largest_int8_metric_drop"] = {"id": worst["id"], "drop": worst["parity"]["metric_drop"],
                                           "max": worst["parity"]["max_metric_drop"]}
    return out


def collect(spec: TaskRun, run: Path, ablations_root: Path) -> dict:
    """Everything the document shows, read from the run's files only."""
    task = get_task(spec.task)
    main = task.main_metric
    summary = json.loads((run / "summary.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    bench = read_results(run / "export" / "bench" / "results.json")
    manifest = read_manifest(run / "export" / "manifest.json").raw
    teacher = summary["stages"]["teacher"]["best_score"]
    dev = summary["dev"]
    by_art = {a["id"]: a for a in bench["artifacts"]}
    final_ckpt = _final_checkpoint(run, summary)
    grids = {m: _metric_grids(m, main, by_art, dev, final_ckpt) for m in task.metric_names}
    teachers = {m: teacher if m == main else _metrics(run / "teacher" / "checkpoint", m)[subnet_name(1.0, 1.0)]
                for m in task.metric_names}
    coreml = {a["id"]: a.get("status") for a in manifest["artifacts"] if a["format"] == "coreml-int8"}

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

    ablation: dict = {}
    if spec.ablations:
        main_width = _metrics(run / "width" / "checkpoint", main)
        for label in ablation_settings(run):
            ckpt = ablations_root / label / "width" / "checkpoint"
            if ckpt.is_dir():
                summary_file = ablations_root / label / "width" / "summary.json"
                ablation[label] = {"metrics": _metrics(ckpt, main), "summary": json.loads(summary_file.read_text())}
        ablation = {"dynabert_width_stage": main_width, "dynabert_final": {s: dev[s] for s in dev}, **ablation}
    g = grids[main]
    scores = list(g["pytorch_training_eval"].values())
    int8_gaps = {f"{s}/{fmt}": g[fmt][s] - g["hf"][s] for fmt in INT8_FORMATS
                 for s in g["hf"] if g[fmt].get(s) is not None and g["hf"][s] is not None}
    # An INT8 file with no gap (its export failed verification, so device_bench skipped it, or either
    # measurement errored) is not within the tolerance: it is listed, and the target is not met.
    unmeasured = sorted(a["id"] for a in manifest["artifacts"]
                        if a["format"] in INT8_FORMATS and a["id"] not in int8_gaps)
    smallest, full = subnet_name(0.25, 0.5), subnet_name(1.0, 1.0)
    tol = spec.int8_tolerance
    targets = {
        "full_ge_teacher": {"value": dev[full], "target": teacher, "met": dev[full] >= teacher},
        "mean_ge_teacher_minus_1.5": {"value": sum(scores) / len(scores), "target": teacher - 0.015,
                                      "met": sum(scores) / len(scores) >= teacher - 0.015},
        "smallest_ge_teacher_minus_3": {"value": dev[smallest], "target": teacher - 0.03,
                                        "met": dev[smallest] >= teacher - 0.03},
        f"int8_within_{100 * tol:.1f}_of_pytorch": {
            "worst": min(int8_gaps.values()) if int8_gaps else None,
            "worst_file": min(int8_gaps, key=int8_gaps.get) if int8_gaps else None,
            "met": bool(int8_gaps) and min(int8_gaps.values()) >= -tol and not unmeasured},
    }
    if unmeasured:
        targets[f"int8_within_{100 * tol:.1f}_of_pytorch"]["unmeasured"] = unmeasured
    paper = {"teacher": spec.paper.teacher, "grid": {subnet_name(w, d): spec.paper.grid[w][i] for w in WIDTHS
                                                     for i, d in enumerate(DEPTHS)}}
    if spec.layout >= 2:
        ours = grids[spec.paper.metric]["pytorch_training_eval"]
        paper.update(metric=spec.paper.metric,
                     mean=sum(paper["grid"].values()) / 12,
                     mean_drop=sum(paper["grid"].values()) / 12 - spec.paper.teacher,
                     ours_mean=100 * sum(ours.values()) / 12,
                     ours_mean_drop=100 * (sum(ours.values()) / 12 - teachers[spec.paper.metric]))
    per_metric: dict = {}
    for m in task.metric_names:  # the main metric first: SST-2's keys and order are the published ones
        per_metric[f"teacher_dev_{m}"] = teachers[m]
        per_metric[f"dev_{m}"] = grids[m]
    out = {
        "task": task.display_name,
        "data": {"glue_dir": f"../shared/data/glue/{task.dir_name}", "train_rows": spec.train_rows,
                 "dev_rows": spec.dev_rows},
        "config": config, "stages": summary["stages"], **per_metric,
        "coreml_int8": coreml, "export_verification": _verification(manifest, task.is_regression),
        "sizes_bytes": sizes, "latency": latency,
        "bench": {"environment": bench["environment"], "settings": bench["settings"]},
    }
    if spec.ablations:
        out["ablations"] = ablation
    out.update(paper=paper, targets=targets)
    return out


# ---------------------------------------------------------------------------------------------- render


def _grid_table(values: dict[str, float | None], fmt=_pct) -> list[str]:
    lines = ["| width \\ depth | 1.0 | 0.75 | 0.5 |", "|---|---|---|---|"]
    for w in WIDTHS:
        lines.append(f"| {w} | " + " | ".join(fmt(values.get(subnet_name(w, d))) for d in DEPTHS) + " |")
    return lines


def _grids(r: dict, metrics: tuple[str, ...], fmt: str) -> list[str]:
    """One grid per metric (labelled when the task has more than one) of format ``fmt``."""
    if len(metrics) == 1:
        return _grid_table(r[f"dev_{metrics[0]}"][fmt])
    out: list[str] = []
    for i, m in enumerate(metrics):
        out += ([""] if i else []) + [f"*{METRIC_LABELS[m]}*", ""] + _grid_table(r[f"dev_{m}"][fmt])
    return out


def _scores_phrase(metrics: tuple[str, ...]) -> str:
    if metrics == ("accuracy",):
        return "Dev accuracy in %"
    labels = [METRIC_LABELS[m] for m in metrics]
    if len(labels) == 1:
        return f"Dev {labels[0]} ×100"
    return (f"Dev {' and '.join(labels)} ×100 ({labels[0]} is the main metric: model selection, device_bench "
            "and pick)")


def render(spec: TaskRun, r: dict, notes: str) -> str:
    task = get_task(spec.task)
    main, metrics, name = task.main_metric, task.metric_names, spec.name
    main_label = METRIC_LABELS[main]
    t = r[f"teacher_dev_{main}"]
    g = r[f"dev_{main}"]
    out = [f"# DynaBERT on {task.display_name} with the MiniLM teacher ({name})", "",
           f"Generated by `{spec.command}` from the run's own files (numbers in "
           f"[`{name}.json`]({name}.json)). {_scores_phrase(metrics)}, {task.display_name} dev "
           f"({spec.dev_rows:,} {spec.unit}).", ""]
    if notes:
        out += [notes.strip(), ""]
    out += ["## Training", "", "| stage | steps | best step | time (s) | best dev score |", "|---|---|---|---|---|"]
    for stage, s in r["stages"].items():
        out.append(f"| {stage} | {s['steps']} | {s['best_step']} | {s['train_seconds']:.0f} | {s['best_score']:.4f} |")
    cfg = r["config"]
    teacher_line = _pct(t) if len(metrics) == 1 else ", ".join(
        f"{METRIC_LABELS[m]} {_pct(r[f'teacher_dev_{m}'])}" for m in metrics)
    out += ["", f"Config: preset `{name}` (seed {cfg['seed']}, batch {cfg['batch_size']}, max length "
            f"{cfg['data']['max_length']}, {cfg['threads']} CPU thread); the stage score is the sum of the dev "
            f"{main_label} over the stage's sub-networks. The full resolved config is in the JSON.", "",
            f"## Teacher: {teacher_line}", "",
            "## The 12 sub-networks (PyTorch, the training's dev evaluation)", ""]
    out += _grids(r, metrics, "pytorch_training_eval")
    for fmt, label in (("hf", "PyTorch, the sliced stock `hf/` checkpoint (device_bench)"),
                       ("onnx", "ONNX fp32 (ONNX Runtime)"), ("onnx-int8", "ONNX INT8 (ONNX Runtime)"),
                       ("ort-int8", "`.ort` INT8 (ONNX Runtime, mobile settings)"),
                       ("pte-int8", "ExecuTorch `.pte` INT8 (XNNPACK)")):
        if any(v is not None for v in g[fmt].values()):
            out += ["", f"### {label}", ""] + _grids(r, metrics, fmt)
    coreml = r["coreml_int8"]
    if not coreml:
        out += ["", "Core ML INT8-weights: not exported."]
    elif all(v == "unverified" for v in coreml.values()):
        out += ["", f"Core ML INT8-weights: exported and spec-validated; {main_label} not run (Core ML prediction "
                "needs macOS)."]
    else:
        out += ["", f"Core ML INT8-weights status: {coreml}"]
    v = r["export_verification"]
    head = (f"Export verification: {v['artifacts']} files, {v['status']['passed']} passed, "
            f"{v['status']['unverified']} unverified (Core ML), {v['status']['failed']} failed; ")
    if v.get("lowest_int8_argmax_agreement") is not None:
        out += ["", head + f"the lowest INT8 argmax agreement with PyTorch is {v['lowest_int8_argmax_agreement']:.3f} "
                f"on {v['int8_inputs']} dev inputs."]
    elif v.get("lowest_int8_pearson_with_pytorch") is not None:
        out += ["", head + "the lowest Pearson correlation of an INT8 file's scores with PyTorch's is "
                f"{v['lowest_int8_pearson_with_pytorch']:.4f} on {v['int8_inputs']} dev inputs."]
    if v.get("largest_int8_metric_drop"):
        d = v["largest_int8_metric_drop"]
        out[-1] += (f" On those inputs the largest drop of the {main_label} of a reduced-precision file below its "
                    f"PyTorch sub-network is {100 * d['drop']:.2f} points ({d['id']}; export's gate: "
                    f"{100 * d['max']:.1f}).")
    p = spec.paper
    p_label = METRIC_LABELS[p.metric]
    out += ["", f"## Against the paper (BERT-base teacher {p.teacher})", ""]
    if p.metric != main:
        out += [f"The paper reports {p_label} for {task.display_name}, so ours here is our {p_label} too (our main "
                f"metric, {main_label}, is in the grids above).", ""]
    out += [f"The paper's DynaBERT on {task.display_name} (Hou et al. 2020, Table 1), dev {p_label}:", ""]
    out += _grid_table(r["paper"]["grid"], fmt=lambda x: f"{x:.1f}")
    ours = r[f"dev_{p.metric}"]["pytorch_training_eval"]
    t_paper_metric = r[f"teacher_dev_{p.metric}"]
    out += ["",
            "Drop from each teacher (points; negative = below the teacher), ours / paper:", "",
            "| width \\ depth | 1.0 | 0.75 | 0.5 |", "|---|---|---|---|"]
    for w in WIDTHS:
        cells = []
        for d in DEPTHS:
            mine = 100 * (ours[subnet_name(w, d)] - t_paper_metric)
            theirs = r["paper"]["grid"][subnet_name(w, d)] - p.teacher
            cells.append(f"{mine:+.1f} / {theirs:+.1f}")
        out.append(f"| {w} | " + " | ".join(cells) + " |")
    if spec.layout >= 2:
        pr = r["paper"]
        out += ["", f"Mean of the 12 ({p_label}): ours {pr['ours_mean']:.1f} ({pr['ours_mean_drop']:+.1f} from our "
                f"teacher {100 * t_paper_metric:.1f}), the paper {pr['mean']:.1f} ({pr['mean_drop']:+.1f} from "
                f"{p.teacher})."]
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
                    # no ratio where the full model's file of this view was not measured (failed its gate)
                    ratio = f" ({1 / row['vs_full']:.1f}×)" if row.get("vs_full") else ""
                    cells.append(f"{row['p50_ms']:.2f} ms{ratio}{'!' if row['unstable'] else ''}")
            out.append(f"| {w} | " + " | ".join(cells) + " |")
        out.append("")
    out += [f"![Pareto: {main_label} vs latency]({name}-pareto.png)", ""]
    if "ablations" in r:
        out += _render_ablations(r["ablations"]) + [""]
    out += ["## Targets", "", "| target | value | met |", "|---|---|---|"]
    tg = r["targets"]
    out.append(f"| (1.0, 1.0) ≥ teacher ({_pct(t)}) | {_pct(tg['full_ge_teacher']['value'])} | "
               f"{'yes' if tg['full_ge_teacher']['met'] else 'no'} |")
    mean = tg["mean_ge_teacher_minus_1.5"]
    out.append(f"| mean of the 12 ≥ teacher − 1.5 ({_pct(t - 0.015)}) | {_pct(mean['value'])} | "
               f"{'yes' if mean['met'] else 'no'} |")
    out.append(f"| smallest ≥ teacher − 3.0 ({_pct(t - 0.03)}) | {_pct(tg['smallest_ge_teacher_minus_3']['value'])} | "
               f"{'yes' if tg['smallest_ge_teacher_minus_3']['met'] else 'no'} |")
    tol = f"{100 * spec.int8_tolerance:.1f}"
    i8 = tg[f"int8_within_{tol}_of_pytorch"]
    worst = "—" if i8["worst"] is None else f"{100 * i8['worst']:+.2f} ({i8['worst_file']})"
    if i8.get("unmeasured"):
        n = len(i8["unmeasured"])
        worst += (f"; {n} file{'s' * (n > 1)} not measured (failed export verification or no score): "
                  f"{', '.join(i8['unmeasured'][:4])}{', …' if n > 4 else ''}")
    out.append(f"| every INT8 file within {tol} of its PyTorch sub-network | worst {worst} | "
               f"{'yes' if i8['met'] else 'no'} |")
    return "\n".join(out) + "\n"


def _render_ablations(ab: dict) -> list[str]:
    out = ["## Ablations (width 0.25)", ""]
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
    return out


# ---------------------------------------------------------------------------------------------- publish


def publish(spec: TaskRun, notes_file: Path | None, run: Path | None = None, ablations_root: Path | None = None,
            docs: Path | None = None) -> Path:
    """Write ``<docs>/<task>-minilm.{md,json}`` and the Pareto plot from the run's files; returns the .md.

    ``run``, ``ablations_root`` and ``docs`` default to the task's run folders and docs/results/.
    """
    run = run_dir(spec) if run is None else run
    docs = DOCS if docs is None else docs
    results = collect(spec, run, ablations_dir(spec) if ablations_root is None else ablations_root)
    docs.mkdir(parents=True, exist_ok=True)
    notes = notes_file.read_text() if notes_file and notes_file.is_file() else ""
    name = spec.name
    write_text_atomic(docs / f"{name}.json", json.dumps(results, indent=1, default=str) + "\n")
    write_text_atomic(docs / f"{name}.md", render(spec, results, notes))
    png = run / "export" / "bench" / "pareto_latency.png"
    if png.is_file():
        with atomic_file(docs / f"{name}-pareto.png") as tmp:
            shutil.copyfile(png, tmp)
    print(f"wrote {docs / (name + '.md')}")
    return docs / f"{name}.md"


def build_parser(fixed_task: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__ if fixed_task is None else
                                f"The real {fixed_task} run (glue_minilm.py --task {fixed_task}): train, export, "
                                "device_bench, publish docs/results/; re-run to continue after a stop.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    if fixed_task is None:
        p.add_argument("--task", required=True, type=_task_arg,
                       help=f"the GLUE task: {', '.join(RUNS)} (the tasks of the paper's Table 1 on disk here)")
    p.add_argument("--publish-only", action="store_true", help="only rewrite docs/results/ from the run's files")
    p.add_argument("--skip-ablations", action="store_true",
                   help="train, export and publish without the ablations (SST-2 is the one task that has them)")
    p.add_argument("--notes", type=Path, default=None,
                   help="hand-written notes placed under the title (what the files cannot say: machine load, pauses; "
                        "default docs/results/<task>-minilm.notes.md)")
    return p


def _task_arg(text: str) -> TaskRun:
    try:
        return task_run(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None, task: str | None = None) -> int:
    args = build_parser(task).parse_args(argv)
    spec = RUNS[task] if task is not None else args.task
    notes = args.notes if args.notes is not None else DOCS / f"{spec.name}.notes.md"
    prog = Path(spec.command.split()[1]).stem
    try:
        if not args.publish_only:
            train(spec)
            if spec.ablations and not args.skip_ablations:
                ablations(spec)
            export(spec)
        publish(spec, notes)
    except subprocess.CalledProcessError as exc:
        print(f"{prog}: step failed (exit {exc.returncode}): {' '.join(map(str, exc.cmd))}; "
              "fix what it printed above and run the same command again to continue", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"{prog}: missing {exc.filename}: run without --publish-only to produce it", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a preset's training costs, from a few measured steps of each stage on the task's own batches.

    python benchmarks/glue_budget.py --task mrpc            # preset mrpc-minilm, GLUE at ../shared/data/glue
    python benchmarks/glue_budget.py --task cola --steps 6 --out runs/bench/glue_budget_cola.json

For each stage the preset trains (teacher, width, depth, finetune), the step is built as ``train.stages``
builds it (its sub-networks, sandwich sampling, its loss and frozen teacher) and run with the training
loop's own ``train.loop.train_step`` on real batches of the task (tokenized at the preset's max length,
grouped by length as the preset says). The batches timed are spread over the epoch's range of lengths;
a fit ``seconds = a + b * padded tokens`` of them, applied to every batch of the epoch, gives the mean step.
One dev evaluation of each stage's sub-networks is timed whole, and importance is charged as that many
full-model forward+backward passes, each at the cost of a teacher step (which also runs the
optimiser: an upper bound).

Two clocks: wall time, and the process's CPU time. Training runs on one thread (the presets set
``threads: 1``), so on a machine shared with other jobs the CPU time is what the step would take on an idle
core; the projection uses it, and prints the wall time and the ratio so the load is visible. Not counted:
model loading, tokenizing, checkpoint and state saves (seconds each).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import grid
from dynabert.backbone import load_classifier
from dynabert.fileio import write_json_atomic
from dynabert.importance import compute_importance
from dynabert.rewire import rewire
from train.config import TrainConfig, build_config
from train.data import load_task_data, tokenize, train_loader
from train.device import setup_runtime
from train.loop import Stage, _sorted_by_length, eval_loader, evaluate, make_optimizer, total_steps, train_step
from train.stages import distill_loss_fn, hard_loss_fn, schedule

REPO = Path(__file__).resolve().parents[1]
GLUE = REPO.parent / "shared" / "data" / "glue"


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _stages(cfg: TrainConfig, model: AdaptiveModel) -> dict[str, tuple[Stage, list]]:
    """Each enabled stage's Stage (as train.stages builds it) and the sub-networks its evaluation scores."""
    widths = [(w, 1.0) for w in cfg.width_mults]
    all12 = grid(cfg.width_mults, cfg.depth_mults)
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    out = {}
    for name, subnets, loss, with_teacher, evals in (
        ("teacher", lambda step: [(1.0, 1.0)], hard_loss_fn, False, [(1.0, 1.0)]),
        ("width", lambda step: list(widths), distill_loss_fn(cfg, "width", "full"), True, widths),
        ("depth", schedule(cfg.stage("depth").sampling, all12, cfg.stage("depth").sandwich_random, cfg.seed),
         distill_loss_fn(cfg, "depth", cfg.stage("depth").teacher_width), True, all12),
        ("finetune", schedule(cfg.stage("finetune").sampling, all12, cfg.stage("finetune").sandwich_random,
                              cfg.seed), hard_loss_fn, False, all12),
    ):
        if cfg.stage(name).enabled:
            student = copy.deepcopy(model).train()
            student.base.embeddings.word_embeddings.weight.requires_grad_(not cfg.freeze_word_embeddings)
            out[name] = (Stage(name, cfg.stage(name), student, None, subnets, loss, evals, None,
                               teacher if with_teacher else None), evals)
    return out


def evaluations(scfg, n_steps: int, starts_scored: bool) -> int:
    """Dev evaluations a stage runs (train.loop.train_stage): every eval_every steps, at the end, and at the
    start when eval_at_start asks and the starting scores are not already known (finetune knows them)."""
    every = {s for s in range(1, n_steps + 1) if s == n_steps or (scfg.eval_every and s % scfg.eval_every == 0)}
    return len(every) + int(scfg.eval_at_start and not starts_scored)


def _fit(tokens: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least-squares ``seconds = a + b * tokens`` (a >= 0; a single length falls back to a pure ratio)."""
    x, y = np.asarray(tokens, float), np.asarray(seconds, float)
    if np.ptp(x) == 0:
        return 0.0, float(y.sum() / x.sum())
    b, a = np.polyfit(x, y, 1)
    if a < 0:  # a negative intercept is noise; refit through the origin
        return 0.0, float((x * y).sum() / (x * x).sum())
    return float(a), float(b)


def measure(task: str, preset: str, data_dir: Path, steps: int) -> dict:
    cfg = build_config(preset)
    cfg.data.data_dir = str(data_dir)
    cfg.data.task = task
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    torch.manual_seed(cfg.seed)
    rt = setup_runtime("cpu", "fp32")
    data = load_task_data(cfg.data, cfg.seed)
    hf, tokenizer = load_classifier(cfg.backbone, label_names=data.label_names, regression=data.task.is_regression)
    model = AdaptiveModel(hf)
    train_set = tokenize(data.train, tokenizer, data.task, cfg.data.max_length)
    loader = train_loader(train_set, tokenizer, cfg.batch_size, cfg.seed, group_by_length=cfg.group_by_length)
    loader.batch_sampler.set_epoch(0)
    batches = list(loader)
    padded = [int(b["input_ids"].numel()) for b in batches]
    order = np.argsort(padded)
    picked = [batches[i] for i in order[np.linspace(0, len(order) - 1, steps).round().astype(int)]]
    rewire(model, compute_importance(model, picked[:2], progress=False))  # real rewired weights, as trained
    dev = eval_loader(_sorted_by_length(tokenize(data.dev, tokenizer, data.task, cfg.data.max_length)), tokenizer,
                      cfg.eval_batch_size)
    result = {"task": data.task.name, "preset": preset, "train_rows": len(data.train), "dev_rows": len(data.dev),
              "batches_per_epoch": len(batches), "mean_padded_tokens_per_batch": float(np.mean(padded)),
              "threads": torch.get_num_threads(), "steps_timed": steps, "stages": {}}
    total_cpu = total_wall = 0.0
    for name, (stage, evals) in _stages(cfg, model).items():
        scfg = stage.cfg
        optimizer = make_optimizer(stage.student, scfg)
        params = [p for p in stage.student.parameters() if p.requires_grad]
        scaler = rt.grad_scaler()
        train_step(stage, stage.student, picked[len(picked) // 2], 0, optimizer, scaler, params, rt)  # warm-up
        wall, cpu = [], []
        for i, batch in enumerate(picked):
            w0, c0 = _clocks()
            train_step(stage, stage.student, batch, i + 1, optimizer, scaler, params, rt)
            w1, c1 = _clocks()
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
        tokens = [int(b["input_ids"].numel()) for b in picked]
        a, b = _fit(tokens, cpu)
        mean_step_cpu = a + b * float(np.mean(padded))
        w0, c0 = _clocks()
        evaluate(stage.student, dev, data.task, evals, rt)
        w1, c1 = _clocks()
        n_steps = total_steps(scfg, len(batches))
        n_evals = evaluations(scfg, n_steps, starts_scored=name == "finetune")
        importance = 0.0
        if name == "width" and scfg.rewire:  # a full-model forward + backward per scored batch: a teacher step
            importance = scfg.importance_batches * result["stages"].get("teacher", {}).get(
                "mean_step_cpu_s", mean_step_cpu / len(evals))
        projected = n_steps * mean_step_cpu + n_evals * (c1 - c0) + importance
        result["stages"][name] = {
            "steps": n_steps, "evals": n_evals, "mean_step_cpu_s": round(mean_step_cpu, 4),
            "fit_intercept_s": round(a, 4), "fit_s_per_token": b, "timed_cpu_s": [round(t, 4) for t in cpu],
            "timed_wall_s": [round(t, 4) for t in wall], "timed_tokens": tokens,
            "wall_over_cpu": round(sum(wall) / sum(cpu), 3), "eval_cpu_s": round(c1 - c0, 2),
            "eval_wall_s": round(w1 - w0, 2), "importance_cpu_s": round(importance, 1),
            "projected_idle_s": round(projected, 1)}
        total_cpu += projected
        total_wall += projected * sum(wall) / sum(cpu)
        print(f"{name:<9} {n_steps:>5} steps x {mean_step_cpu:6.3f} s + {n_evals} evals x {c1 - c0:5.1f} s"
              f"{f' + importance {importance:.0f} s' if importance else ''} = {projected / 60:5.1f} min idle "
              f"(wall/cpu here {sum(wall) / sum(cpu):.2f})", flush=True)
    result["projected_idle_minutes"] = round(total_cpu / 60, 1)
    result["projected_minutes_at_this_load"] = round(total_wall / 60, 1)
    print(f"{data.task.display_name}, preset {preset}: {total_cpu / 60:.1f} min on an idle core "
          f"({total_wall / 60:.1f} min at this machine's load)")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="GLUE task (mrpc, stsb, cola, sst2, ...)")
    p.add_argument("--preset", help="training preset (default: <task>-minilm)")
    p.add_argument("--data-dir", type=Path, default=GLUE, help="GLUE root (default: ../shared/data/glue)")
    p.add_argument("--steps", type=int, default=5, help="batches timed per stage, spread over the lengths")
    p.add_argument("--out", type=Path, help="write the measurements as JSON here")
    args = p.parse_args(argv)
    if args.steps < 2:
        p.error("--steps must be at least 2 (the fit needs two lengths)")
    result = measure(args.task, args.preset or f"{args.task}-minilm", args.data_dir, args.steps)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The one training loop every stage shares, top to bottom.

A stage is described by a :class:`Stage`: the student, an optional frozen teacher, which sub-networks a
step trains, and the loss of one sub-network. The loop does the rest: AdamW with linear decay, gradients
accumulated over the step's sub-networks before one clipped optimiser step (as in DynaBERT), evaluation
of the stage's sub-networks every N steps with the best-by-sum checkpoint kept, a JSONL log, a plot of the
curves, and a training state saved atomically every ``save_every`` steps so that ``--resume`` after a
``kill -9`` continues to the same final weights as an uninterrupted run.

Why resume is exact: each step consumes exactly one batch, and batch order is a pure function of
(seed, epoch) (``EpochBatchSampler``), so the data position is a function of the step alone; the state
holds the weights, AdamW's moments, the scheduler, the loss scaler and every RNG (dropout), and the log
is cut back to what it held at the save. The state is read without pickle (:mod:`train.state`).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from dynabert.adaptive import AdaptiveModel, AdaptiveOutput
from dynabert.checkpoint import CheckpointError, CheckpointMeta, save_checkpoint
from dynabert.data import Example, TaskSpec, TokenizedDataset, compute_metrics
from dynabert.fileio import write_json_atomic
from train.config import StageConfig
from train.data import TaskData, eval_loader, tokenize, train_loader
from train.device import Runtime, barrier
from train.state import deferred_interrupt, load_state, restore, rng_state, save_state, set_rng_state

STATE_FILE = "state.pt"
LOG_FILE = "log.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoint"

Subnet = tuple[float, float]
TeacherFn = Callable[[float], AdaptiveOutput]  # width -> the teacher's output on this batch (cached)
LossFn = Callable[[AdaptiveOutput, dict[str, torch.Tensor], TeacherFn | None],
                  tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Stage:
    """What one stage trains; everything else is the shared loop."""

    name: str  # "teacher", "width", "depth", "finetune": also the sub-directory of the run
    cfg: StageConfig
    student: AdaptiveModel
    tokenizer: Any
    subnets: Callable[[int], list[Subnet]]  # step -> the sub-networks trained at that step
    loss: LossFn
    eval_subnets: list[Subnet]  # scored every eval_every steps; the best sum of the main metric wins
    meta: CheckpointMeta  # template for the checkpoint (stage, rewired, multipliers, task, ...)
    teacher: AdaptiveModel | None = None
    train_examples: list[Example] | None = None  # None: the task's train split (augmented data goes here)
    extra_state: dict[str, Any] = field(default_factory=dict)  # saved with the training state (e.g. importance)
    start_metrics: dict[str, dict[str, float]] | None = None  # dev scores of the starting weights, if known


@dataclass
class Run:
    """What is the same for every stage of a run."""

    dir: Path
    data: TaskData
    rt: Runtime
    seed: int
    batch_size: int
    eval_batch_size: int
    max_length: int
    freeze_word_embeddings: bool = False
    group_by_length: bool = False
    resume: bool = False
    progress: bool = True

    @property
    def task(self) -> TaskSpec:
        return self.data.task


class ResumeError(RuntimeError):
    """A run directory that cannot be resumed (or would be overwritten); the message says why."""


# ---------------------------------------------------------------------------------------------- helpers


def full_last(subnets: list[Subnet]) -> list[Subnet]:
    """The largest sub-network last: under DDP its backward is the one that all-reduces, and it is the
    only sub-network that touches every parameter (the others' grads arrive accumulated)."""
    largest = max(subnets)
    return [s for s in subnets if s != largest] + [largest]


def subnet_name(model: AdaptiveModel, subnet: Subnet) -> str:
    return model.spec(*subnet).name


def batches_from(loader: torch.utils.data.DataLoader, step: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches starting at training step ``step`` (one batch per step)."""
    per_epoch = loader.batch_sampler.batches_per_epoch
    epoch, skip = divmod(step, per_epoch)
    while True:
        loader.batch_sampler.set_epoch(epoch, skip_batches=skip)
        yield from loader
        epoch, skip = epoch + 1, 0


def total_steps(cfg: StageConfig, batches_per_epoch: int) -> int:
    return cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(cfg.epochs * batches_per_epoch))


def linear_schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


def make_optimizer(model: torch.nn.Module, cfg: StageConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            # BERT's convention: no weight decay on biases and LayerNorm weights.
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _seed_everything(seed: int, stage: str) -> None:
    mixed = int(np.random.SeedSequence([seed, zlib.crc32(stage.encode())]).generate_state(1)[0])
    random.seed(mixed)
    np.random.seed(mixed)
    torch.manual_seed(mixed)


class JsonlLog:
    """Append-only JSON-lines log; on resume it is cut back to the length recorded in the state."""

    def __init__(self, path: Path, truncate_to: int | None, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        if truncate_to is None:
            path.write_text("")
        else:
            with open(path, "a+b") as handle:
                handle.truncate(truncate_to)

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def offset(self) -> int:
        return self.path.stat().st_size if self.enabled and self.path.exists() else 0


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _sorted_by_length(dataset: TokenizedDataset) -> TokenizedDataset:
    # Evaluation order does not matter to the metrics; length order keeps padding (wasted compute) small.
    order = sorted(range(len(dataset)), key=lambda i: len(dataset.features["input_ids"][i]))
    features = {k: [column[i] for i in order] for k, column in dataset.features.items()}
    return TokenizedDataset(features, [dataset.labels[i] for i in order], dataset.is_regression)


# ---------------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: AdaptiveModel, loader: torch.utils.data.DataLoader, task: TaskSpec, subnets: list[Subnet],
             rt: Runtime, progress: bool = False) -> dict[str, dict[str, float]]:
    """All of ``task``'s metrics for each sub-network, keyed by its name (``w0.5_d0.75``)."""
    was_training = model.training
    model.eval()
    outputs: dict[Subnet, list[torch.Tensor]] = {s: [] for s in subnets}
    labels = []
    for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
        batch = _to_device(batch, rt.device)
        labels.append(batch["labels"].cpu())
        with rt.autocast():
            for s in subnets:
                out = model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"),
                            width_mult=s[0], depth_mult=s[1])
                outputs[s].append(out.logits.float().cpu())
    model.train(was_training)
    gold = torch.cat(labels)
    return {subnet_name(model, s): compute_metrics(task, torch.cat(outputs[s]), gold) for s in subnets}


def score_of(metrics: dict[str, dict[str, float]], task: TaskSpec) -> float:
    """The paper's model-selection number: the sum of the main metric over the sub-networks."""
    return float(sum(m[task.main_metric] for m in metrics.values()))


# ---------------------------------------------------------------------------------------------- the loop


def train_step(stage: Stage, forward: torch.nn.Module, batch: dict[str, torch.Tensor], step: int,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: list[torch.nn.Parameter],
               rt: Runtime, ddp: DistributedDataParallel | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimiser step over the step's sub-networks; returns each one's (detached) loss and the grad norm.

    Every sub-network's loss is backpropagated into the same ``.grad`` (accumulated), then one clipped
    AdamW step: the sub-networks' losses are summed, not averaged (the official code). The teacher's
    output is computed once per batch and width, on first use.
    """
    inputs = (batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))
    cache: dict[float, AdaptiveOutput] = {}

    def teacher_out(width: float) -> AdaptiveOutput:
        if width not in cache:
            with torch.no_grad(), rt.autocast():
                cache[width] = stage.teacher(*inputs, width_mult=width, depth_mult=1.0)
        return cache[width]

    optimizer.zero_grad(set_to_none=True)
    subnets = full_last(stage.subnets(step))
    losses: dict[str, torch.Tensor] = {}
    for i, subnet in enumerate(subnets):
        sync = ddp is None or i == len(subnets) - 1
        with contextlib.nullcontext() if sync else ddp.no_sync():
            with rt.autocast():
                out = forward(*inputs, width_mult=subnet[0], depth_mult=subnet[1])
                loss, parts = stage.loss(out, batch, teacher_out if stage.teacher is not None else None)
            scaler.scale(loss).backward()
        losses[out.spec.name] = loss.detach()
        for key, value in parts.items():
            losses[f"{out.spec.name}/{key}"] = value
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, stage.cfg.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return losses, grad_norm


def finished(run: Run, name: str) -> Path | None:
    """The checkpoint of stage ``name`` if a resumed run already completed it (nothing to load or redo)."""
    out_dir = run.dir / name
    return out_dir / CHECKPOINT_DIR if run.resume and (out_dir / SUMMARY_FILE).exists() else None


@dataclass
class _Trainer:
    """What a stage trains with, built once (:func:`_build`): model, data, optimiser, and where it writes."""

    out_dir: Path
    state_path: Path
    ckpt_path: Path
    model: AdaptiveModel
    forward: torch.nn.Module  # the model, or its DDP wrapper (:func:`_wrap_ddp`)
    ddp: DistributedDataParallel | None
    loader: torch.utils.data.DataLoader
    dev_loader: torch.utils.data.DataLoader
    total: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    params: list[torch.nn.Parameter]


@dataclass
class _Progress:
    """Where the stage is: the step, the best evaluation so far, and the training time before this process."""

    step: int = 0
    best_score: float = -math.inf
    best_step: int = -1
    elapsed: float = 0.0  # seconds trained by earlier processes (a resumed run)
    started: float = field(default_factory=time.perf_counter)  # when this process started training

    def seconds(self) -> float:
        return self.elapsed + time.perf_counter() - self.started


def _check_out_dir(stage: Stage, run: Run) -> tuple[Path, Path, Path]:
    """The stage's folder (made), its state file and checkpoint path; refuses to overwrite a trained stage."""
    out_dir = run.dir / stage.name
    ckpt_path = out_dir / CHECKPOINT_DIR
    if not run.resume and ((out_dir / LOG_FILE).exists() or ckpt_path.exists()):
        raise ResumeError(f"{out_dir} already holds a trained stage; pass --resume to continue the run or choose "
                          "another --out")
    if run.rt.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    barrier(run.rt)
    return out_dir, out_dir / STATE_FILE, ckpt_path


def _build(stage: Stage, run: Run, out_dir: Path, state_path: Path, ckpt_path: Path) -> _Trainer:
    """Model and teacher on the device, the tokenized train and dev sets, the optimiser and its schedule."""
    cfg, rt = stage.cfg, run.rt
    model = stage.student.to(rt.device)
    model.base.embeddings.word_embeddings.weight.requires_grad_(not run.freeze_word_embeddings)
    if stage.teacher is not None:
        stage.teacher.to(rt.device).eval().requires_grad_(False)
    train_set = tokenize(stage.train_examples or run.data.train, stage.tokenizer, run.task, run.max_length)
    dev_set = _sorted_by_length(tokenize(run.data.dev, stage.tokenizer, run.task, run.max_length))
    loader = train_loader(train_set, stage.tokenizer, run.batch_size, run.seed, rt.rank, rt.world,
                          run.group_by_length)
    dev_loader = eval_loader(dev_set, stage.tokenizer, run.eval_batch_size)
    total = total_steps(cfg, loader.batch_sampler.batches_per_epoch)
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(total, int(cfg.warmup_ratio * total)))
    scaler = rt.grad_scaler()
    params = [p for p in model.parameters() if p.requires_grad]
    return _Trainer(out_dir, state_path, ckpt_path, model, model, None, loader, dev_loader, total, optimizer,
                    scheduler, scaler, params)


def _wrap_ddp(t: _Trainer, rt: Runtime) -> None:
    """Under torchrun, train through DDP (after the weights are restored: all ranks then start equal)."""
    if rt.distributed:
        # The full network runs last in every step and uses every trainable parameter, so DDP's default
        # (no unused-parameter search) is right; the other sub-networks accumulate under no_sync().
        t.ddp = DistributedDataParallel(t.model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)
        t.forward = t.ddp


def _restore(stage: Stage, t: _Trainer, state: dict) -> _Progress:
    """Weights, optimiser, schedule and scaler from a saved state (RNGs last, in :func:`train_stage`)."""
    if state["total_steps"] != t.total or state["stage"] != stage.name:
        raise ResumeError(f"{t.state_path}: saved for {state['stage']} with {state['total_steps']} steps, but "
                          f"this run would do {t.total}; the config changed: start a new --out")
    log_size = (t.out_dir / LOG_FILE).stat().st_size if (t.out_dir / LOG_FILE).exists() else 0
    if state["log_offset"] > log_size:  # truncate() would pad the log with zero bytes
        raise ResumeError(f"{t.state_path}: field log_offset is {state['log_offset']} but {t.out_dir / LOG_FILE} "
                          f"holds {log_size} bytes; the folder was changed: delete {t.state_path} to restart "
                          "this stage")
    restore("model", t.state_path, t.model.hf.load_state_dict, state["model"])
    restore("optimizer", t.state_path, t.optimizer.load_state_dict, state["optimizer"])
    restore("scheduler", t.state_path, t.scheduler.load_state_dict, state["scheduler"])
    restore("scaler", t.state_path, t.scaler.load_state_dict, state["scaler"])
    return _Progress(state["step"], state["best_score"], state["best_step"], state["elapsed"])


def _save_training_state(stage: Stage, run: Run, t: _Trainer, p: _Progress, log: JsonlLog) -> None:
    if run.rt.is_main:
        save_state({
            "stage": stage.name, "step": p.step, "total_steps": t.total, "model": t.model.hf.state_dict(),
            "optimizer": t.optimizer.state_dict(), "scheduler": t.scheduler.state_dict(),
            "scaler": t.scaler.state_dict(), "rng": rng_state(), "best_score": p.best_score,
            "best_step": p.best_step, "elapsed": p.seconds(), "log_offset": log.offset(), "extra": stage.extra_state,
        }, t.state_path)
    barrier(run.rt)


def _evaluate_and_keep_best(stage: Stage, run: Run, t: _Trainer, p: _Progress, log: JsonlLog,
                            known: dict[str, dict[str, float]] | None = None) -> None:
    """Score the stage's sub-networks (or take ``known`` scores); a new best sum is saved as the checkpoint
    and recorded in ``p``."""
    if run.rt.is_main:
        metrics = known or evaluate(t.model, t.dev_loader, run.task, stage.eval_subnets, run.rt, run.progress)
        score = score_of(metrics, run.task)
        improved = score > p.best_score
        if improved:
            p.best_score, p.best_step = score, p.step
            meta = stage.meta
            meta.extra.update(steps=p.step, total_steps=t.total, metrics=metrics, score=score,
                              main_metric=run.task.main_metric, seed=run.seed, train_seconds=round(p.seconds(), 1))
            with deferred_interrupt():  # Ctrl-C waits for the rename: the best checkpoint is never torn
                save_checkpoint(t.ckpt_path, t.model, stage.tokenizer, meta)
        log.write({"type": "eval", "step": p.step, "score": score, "best": improved,
                   "main_metric": run.task.main_metric, "metrics": metrics})
        tqdm.write(f"[{stage.name}] step {p.step}/{t.total}: sum of {run.task.main_metric} over "
                   f"{len(metrics)} sub-network(s) = {score:.4f}{' (best)' if improved else ''}")
        plot_safely(t.out_dir)
    barrier(run.rt)


def _write_summary(stage: Stage, run: Run, t: _Trainer, p: _Progress) -> None:
    """``summary.json``, written last (its presence means "done"); the training state is then removed."""
    if run.rt.is_main:
        summary = {"stage": stage.name, "steps": t.total, "best_step": p.best_step, "best_score": p.best_score,
                   "main_metric": run.task.main_metric, "train_seconds": round(p.elapsed, 1),
                   "samples_per_second_with_eval": round(t.total * run.batch_size / max(p.elapsed, 1e-9), 2),
                   "checkpoint": str(t.ckpt_path)}
        with deferred_interrupt():
            write_json_atomic(t.out_dir / SUMMARY_FILE, summary)
            t.state_path.unlink(missing_ok=True)
    barrier(run.rt)
    if not t.ckpt_path.is_dir() and run.rt.is_main:
        raise CheckpointError(f"{t.ckpt_path}: no checkpoint was written")


def train_stage(stage: Stage, run: Run) -> Path:
    """Train ``stage`` to the end (or from its saved state); return the path of its best checkpoint."""
    done = finished(run, stage.name)
    if done:
        return done  # finished before the interruption
    state_file = run.dir / stage.name / STATE_FILE
    state = load_state(state_file) if run.resume and state_file.exists() else None
    out_dir, state_path, ckpt_path = _check_out_dir(stage, run)
    t = _build(stage, run, out_dir, state_path, ckpt_path)
    p = _restore(stage, t, state) if state is not None else _Progress()
    log = JsonlLog(out_dir / LOG_FILE, state["log_offset"] if state else None, run.rt.is_main)
    _wrap_ddp(t, run.rt)
    if state is not None:
        set_rng_state(state["rng"], state_path)  # last: nothing between here and the first step may draw random numbers
    else:
        # Each stage seeds its own randomness (dropout), so a stage started in a fresh process (a resumed
        # run, or `python -m train.depth`) draws exactly what it draws after the previous stage in one process.
        _seed_everything(run.seed, stage.name)

    cfg, rt = stage.cfg, run.rt
    p.started = time.perf_counter()
    if p.step > 0 and rt.is_main:
        tqdm.write(f"[{stage.name}] resuming at step {p.step}/{t.total} from {state_path}")
    if p.step == 0 and stage.start_metrics is not None:
        _evaluate_and_keep_best(stage, run, t, p, log, stage.start_metrics)  # the starting weights compete too
    elif p.step == 0 and cfg.eval_at_start:
        _evaluate_and_keep_best(stage, run, t, p, log)
    batches = batches_from(t.loader, p.step)
    window: dict[str, float] = {}
    window_steps = 0
    bar = tqdm(total=t.total, initial=p.step, desc=stage.name, disable=not (run.progress and rt.is_main),
               dynamic_ncols=True)
    t.model.train()
    while p.step < t.total:
        batch = _to_device(next(batches), rt.device)
        losses, grad_norm = train_step(stage, t.forward, batch, p.step, t.optimizer, t.scaler, t.params, rt, t.ddp)
        t.scheduler.step()
        p.step += 1
        bar.update(1)

        # --- log (averaged over the window since the last log line)
        total_loss = sum(v for k, v in losses.items() if "/" not in k)
        for key, value in {"loss": total_loss, **losses}.items():
            window[key] = window.get(key, 0.0) + float(value)
        window_steps += 1
        if p.step % cfg.log_every == 0 or p.step == t.total:
            means = {k: v / window_steps for k, v in window.items()}
            if not math.isfinite(means["loss"]):
                raise FloatingPointError(f"[{stage.name}] loss is {means['loss']} at step {p.step}; lower the lr")
            bar.set_postfix(loss=f"{means['loss']:.4f}")
            log.write({"type": "train", "step": p.step, "loss": means["loss"], "lr": t.scheduler.get_last_lr()[0],
                       "grad_norm": float(grad_norm), "subnets": {k: v for k, v in means.items() if k != "loss"},
                       "time": round(p.seconds(), 2)})
            window, window_steps = {}, 0
        if p.step == t.total or (cfg.eval_every and p.step % cfg.eval_every == 0):
            _evaluate_and_keep_best(stage, run, t, p, log)
        if p.step % cfg.save_every == 0 and p.step < t.total:
            _save_training_state(stage, run, t, p, log)
    bar.close()

    p.elapsed = p.seconds()
    _write_summary(stage, run, t, p)
    return ckpt_path


def plot_safely(out_dir: Path) -> None:
    """Redraw the stage's curves; a plotting problem must never stop training."""
    from train.plot import plot_log

    try:
        plot_log(out_dir / LOG_FILE, out_dir / "curves.png", title=out_dir.name)
    except Exception as exc:  # noqa: BLE001 - matplotlib can fail in many ways (fonts, backends)
        print(f"warning: could not draw {out_dir / 'curves.png'}: {exc}", file=sys.stderr)

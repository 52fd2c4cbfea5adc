"""The four stages of DynaBERT training, each a :class:`train.loop.Stage` handed to the shared loop.

0. ``teacher``: fine-tune the backbone on the task (hard labels).
1. ``width``: importance on task data, rewire, then distil the full teacher into every width at full
   depth (DynaBERT_w): soft CE + lambda_1 (embedding + hidden-state MSE), lambda_1 = 0.1.
2. ``depth``: the frozen DynaBERT_w teaches every (width, depth) sub-network (DynaBERT): soft CE +
   lambda_2 hidden-state MSE, lambda_2 = 1.0; the teacher at full width (official code) or the same width.
3. ``finetune``: optional, every sub-network on the hard labels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dynabert.adaptive import AdaptiveModel, AdaptiveOutput
from dynabert.arch import grid
from dynabert.backbone import BackboneError, load_classifier
from dynabert.checkpoint import META_FILE, CheckpointError, CheckpointMeta, load_checkpoint, read_meta
from dynabert.data import Example
from dynabert.importance import Importance, compute_importance
from dynabert.rewire import rewire
from train.config import TrainConfig
from train.data import tokenize, train_loader
from train.device import Runtime
from train.loop import STATE_FILE, Run, Stage, Subnet, finished, train_stage
from train.losses import distill_loss, hard_loss
from train.state import StateError, load_state

#: The paper's weights of the hidden-state term in stages 1 and 2.
DEFAULT_HIDDEN_WEIGHT = {"width": 0.1, "depth": 1.0}


# ---------------------------------------------------------------------------------------------- helpers


def sandwich(subnets: list[Subnet], k: int, seed: int, step: int) -> list[Subnet]:
    """The largest and the smallest sub-network plus ``k`` others drawn at random for this step.

    The draw is a pure function of (seed, step), so a resumed run draws what the interrupted one would.
    """
    largest, smallest = max(subnets), min(subnets)
    others = [s for s in subnets if s not in (largest, smallest)]
    rng = np.random.default_rng([seed, step])
    picked = rng.choice(len(others), size=min(k, len(others)), replace=False) if others else []
    return [largest, smallest] + [others[i] for i in sorted(picked)]


def schedule(sampling: str, subnets: list[Subnet], k: int, seed: int) -> Callable[[int], list[Subnet]]:
    if sampling == "sandwich":
        return lambda step: sandwich(subnets, k, seed, step)
    return lambda step: list(subnets)


def meta_for(cfg: TrainConfig, run: Run, stage: str, rewired: bool, init: str | None) -> CheckpointMeta:
    data = run.data
    return CheckpointMeta(
        stage=stage, task=data.task.name, label_names=data.label_names, rewired=rewired,
        width_mults=list(cfg.width_mults), depth_mults=list(cfg.depth_mults), max_length=cfg.data.max_length,
        backbone=cfg.backbone, data=data.source,
        extra={"init": init, "augmented": bool(cfg.augment.enabled and stage in ("width", "depth")),
               "config": cfg.to_dict()},
    )


def _load_classifier(source: str | Path, **kwargs) -> tuple[object, object]:
    """``load_classifier``, with every failure to read the weights as one BackboneError naming the source.

    It turns OSError/ValueError/RuntimeError into BackboneError already; safetensors' own SafetensorError
    (a torn or foreign model.safetensors: "header too large") is none of those and would be a traceback.
    """
    try:
        return load_classifier(source, **kwargs)
    except BackboneError:
        raise
    except Exception as exc:  # noqa: BLE001 - any other loader failure means the same: unusable weights
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BackboneError(f"{source}: cannot load the weights ({type(exc).__name__}: {first})") from None


def _check_labels(path: str | Path, num_labels: int, label_names: list[str] | None, run: Run) -> None:
    task = run.task
    if num_labels != task.num_labels:
        raise CheckpointError(f"{path}: the model has {num_labels} output(s) but {task.display_name} needs "
                              f"{task.num_labels}; was it trained on another task?")
    if label_names is not None and run.data.label_names is not None and list(label_names) != run.data.label_names:
        raise CheckpointError(f"{path}: trained with labels {list(label_names)}, but the data's labels are "
                              f"{run.data.label_names}")


def load_teacher(path: str | Path, run: Run) -> tuple[AdaptiveModel, object]:
    """A fine-tuned teacher: a dynabert checkpoint, or any Hugging Face BERT/RoBERTa classifier directory."""
    path = Path(path)
    if (path / META_FILE).exists():
        model, tokenizer, meta = load_checkpoint(path)
        _check_labels(path, model.config.num_labels, meta.label_names, run)
        return model, tokenizer
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such teacher directory (a dynabert checkpoint or a fine-tuned "
                              "Hugging Face classifier)")
    hf, tokenizer = _load_classifier(path)  # keeps its own, trained head
    _check_labels(path, hf.config.num_labels, None, run)
    return AdaptiveModel(hf), tokenizer


def saved_metrics(final: str | Path, key: str) -> tuple[dict, dict]:
    """The checkpoint's ``extra`` and its per-sub-network dev scores, checked: the folder may be edited."""
    meta = read_meta(final)
    where = Path(final) / META_FILE
    extra = meta.extra
    if not isinstance(extra, dict):
        raise CheckpointError(f"{where}: field extra should be a mapping, got {type(extra).__name__}")
    metrics = extra.get("metrics", {})
    # NaN is allowed: a correlation of constant predictions is undefined, and is saved as such.
    ok = isinstance(metrics, dict) and all(
        isinstance(m, dict) and isinstance(m.get(key), (int, float)) and not isinstance(m.get(key), bool)
        for m in metrics.values())
    if not ok:
        raise CheckpointError(f"{where}: field extra.metrics should map each sub-network to its dev scores "
                              f"(a number for {key!r})")
    return extra, metrics


def known_metrics(ckpt: str | Path, run: Run, names: list[str]) -> dict[str, dict[str, float]] | None:
    """The dev scores saved in a checkpoint, when they were measured on this run's dev data for ``names``.

    Fine-tuning may make things worse; with these its starting point competes for "best" at no cost.
    """
    meta = read_meta(ckpt)
    metrics = saved_metrics(ckpt, run.task.main_metric)[1]
    same_data = meta.data == run.data.source and meta.max_length == run.max_length
    if not metrics or sorted(metrics) != sorted(names) or not same_data:
        return None
    return metrics


def _load_stage_input(path: str | Path, run: Run) -> tuple[AdaptiveModel, object]:
    model, tokenizer, meta = load_checkpoint(path, require_rewired=True)
    _check_labels(path, model.config.num_labels, meta.label_names, run)
    return model, tokenizer


def _saved_importance(state: dict, path: Path, model: AdaptiveModel) -> Importance:
    """The head/neuron scores a width-stage state holds, checked against ``model``'s shape."""
    cfg = model.config
    saved = state["extra"].get("importance")
    shapes = {"heads": (cfg.num_hidden_layers, cfg.num_attention_heads),
              "neurons": (cfg.num_hidden_layers, cfg.intermediate_size)}
    for name, shape in shapes.items():
        value = saved.get(name) if isinstance(saved, dict) else None
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape or not value.is_floating_point():
            raise StateError(f"{path}: field extra.importance.{name} should be a float tensor of shape "
                             f"{list(shape)} for this teacher; delete it to restart this stage from its beginning")
    return Importance(saved["heads"], saved["neurons"])


def _broadcast(rt: Runtime, imp: Importance) -> Importance:
    # Every rank must rewire identically; rank 0's scores decide (GPU reductions are not bit-reproducible).
    if not rt.distributed:
        return imp
    import torch.distributed as dist

    out = []
    for t in (imp.heads, imp.neurons):
        t = t.to(rt.device if dist.get_backend() == "nccl" else "cpu").contiguous()
        dist.broadcast(t, 0)
        out.append(t.cpu())
    return Importance(*out)


# ---------------------------------------------------------------------------------------------- stages


def run_teacher(cfg: TrainConfig, run: Run) -> Path:
    """Stage 0: fine-tune the backbone (a fresh classification head) on the task's hard labels."""
    if done := finished(run, "teacher"):
        return done
    torch.manual_seed(cfg.seed)  # the new head's initialisation
    hf, tokenizer = _load_classifier(cfg.backbone, label_names=run.data.label_names,
                                     regression=run.task.is_regression)
    model = AdaptiveModel(hf)

    stage = Stage("teacher", cfg.stage("teacher"), model, tokenizer, subnets=lambda step: [(1.0, 1.0)],
                  loss=hard_loss_fn, eval_subnets=[(1.0, 1.0)],
                  meta=meta_for(cfg, run, "teacher", rewired=False, init=cfg.backbone))
    return train_stage(stage, run)


def hard_loss_fn(out: AdaptiveOutput, batch: dict[str, torch.Tensor], teacher_out: object = None):
    """Stages 0 and 3: the task loss on the labels."""
    return hard_loss(out.logits, batch["labels"]), {}


def distill_loss_fn(cfg: TrainConfig, stage_name: str, teacher_width: str):
    """Stages 1 and 2: the loss of one sub-network against the teacher, as the config asks."""
    scfg = cfg.stage(stage_name)
    weight = scfg.hidden_weight if scfg.hidden_weight is not None else DEFAULT_HIDDEN_WEIGHT[stage_name]
    pkd = cfg.distill.pkd

    def loss(out, batch, teacher_out):
        teacher = teacher_out(out.spec.width_mult if teacher_width == "same" else 1.0)
        return distill_loss(out, teacher, batch["labels"], batch.get("attention_mask"),
                            intermediate=cfg.distill.intermediate, hidden_weight=weight, pkd_alpha=pkd.alpha,
                            pkd_beta=pkd.beta, pkd_temperature=pkd.temperature, pkd_strategy=pkd.strategy)
    return loss


def run_width(cfg: TrainConfig, run: Run, teacher_path: str | Path,
              train_examples: list[Example] | None = None) -> Path:
    """Stage 1 (DynaBERT_w): importance, rewiring, then width-adaptive distillation from the full teacher."""
    if done := finished(run, "width"):
        return done
    teacher, tokenizer = load_teacher(teacher_path, run)
    teacher.to(run.rt.device)
    scfg = cfg.stage("width")
    state_path = run.dir / "width" / STATE_FILE
    extra_state = {}
    if scfg.rewire:
        if run.resume and state_path.exists():
            # rewire exactly as the interrupted run did
            importance = _saved_importance(load_state(state_path), state_path, teacher)
        else:
            # Importance is scored on the original task data (not augmented), in the loader's epoch-0 order.
            loader = train_loader(tokenize(run.data.train, tokenizer, run.task, cfg.data.max_length), tokenizer,
                                  cfg.batch_size, cfg.seed)
            loader.batch_sampler.set_epoch(0)
            importance = compute_importance(teacher, loader, max_batches=scfg.importance_batches,
                                            progress=run.progress and run.rt.is_main)
        importance = _broadcast(run.rt, importance)
        rewire(teacher, importance)
        extra_state = {"importance": {"heads": importance.heads, "neurons": importance.neurons}}
    student = copy.deepcopy(teacher)
    widths = [(w, scfg.depth_mult) for w in (scfg.widths or cfg.width_mults)]
    stage = Stage("width", scfg, student, tokenizer, subnets=lambda step: list(widths),
                  loss=distill_loss_fn(cfg, "width", "full"), eval_subnets=widths,
                  meta=meta_for(cfg, run, "width", rewired=scfg.rewire, init=str(teacher_path)), teacher=teacher,
                  train_examples=train_examples, extra_state=extra_state)
    return train_stage(stage, run)


def run_depth(cfg: TrainConfig, run: Run, width_ckpt: str | Path,
              train_examples: list[Example] | None = None) -> Path:
    """Stage 2 (DynaBERT): the frozen DynaBERT_w teaches every (width, depth) sub-network."""
    if done := finished(run, "depth"):
        return done
    teacher, tokenizer = _load_stage_input(width_ckpt, run)
    student = copy.deepcopy(teacher)
    scfg = cfg.stage("depth")
    subnets = grid(cfg.width_mults, cfg.depth_mults)
    stage = Stage("depth", scfg, student, tokenizer,
                  subnets=schedule(scfg.sampling, subnets, scfg.sandwich_random, cfg.seed),
                  loss=distill_loss_fn(cfg, "depth", scfg.teacher_width), eval_subnets=subnets,
                  meta=meta_for(cfg, run, "depth", rewired=True, init=str(width_ckpt)), teacher=teacher,
                  train_examples=train_examples)
    return train_stage(stage, run)


def run_finetune(cfg: TrainConfig, run: Run, depth_ckpt: str | Path) -> Path:
    """Stage 3 (optional): every sub-network on the hard labels, starting from DynaBERT."""
    if done := finished(run, "finetune"):
        return done
    student, tokenizer = _load_stage_input(depth_ckpt, run)
    scfg = cfg.stage("finetune")
    subnets = grid(cfg.width_mults, cfg.depth_mults)

    stage = Stage("finetune", scfg, student, tokenizer,
                  subnets=schedule(scfg.sampling, subnets, scfg.sandwich_random, cfg.seed), loss=hard_loss_fn,
                  eval_subnets=subnets, meta=meta_for(cfg, run, "finetune", rewired=True, init=str(depth_ckpt)),
                  start_metrics=known_metrics(depth_ckpt, run, [student.spec(*s).name for s in subnets]))
    return train_stage(stage, run)

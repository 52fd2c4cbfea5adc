"""What one training step of each stage costs on the packaged MiniLM, and the stage-2 step vs its FLOPs-ideal.

Each stage is built as in ``train.stages`` (its sub-networks, its loss, a frozen teacher where it has one)
and stepped with the training loop's own ``train.loop.train_step`` (forward + backward of every
sub-network, clipping, AdamW). The stages are timed interleaved, round-robin, so the machine's drift
(other jobs) hits all alike; the first round is warm-up and dropped; medians are reported. Batches are
synthetic and full length (no padding), so ``max length`` is the real sequence length.

The stage-2 step over the 12 sub-networks is compared with its FLOPs-ideal,

    ideal = T(full-model step, i.e. a stage-0 step) * sum over the 12 sub-networks of FLOPs(sub) / FLOPs(full)

with FLOPs from ``dynabert.stats.model_stats`` (backward FLOPs are ~2x forward for every sub-network, so
the ratio is the same for forward+backward). It should be <= 1.15. A stage-2 step also runs the
teacher's forward (about 1/3 of a full step, absent from the formula): the ratio is printed both ways.

    python benchmarks/train_step_cost.py --out runs/bench/train_step_cost.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import grid
from dynabert.backbone import load_classifier
from dynabert.fileio import write_json_atomic
from dynabert.importance import compute_importance
from dynabert.rewire import rewire
from dynabert.slicing import sliced_config
from dynabert.stats import model_stats
from train.config import build_config
from train.device import setup_runtime
from train.loop import Stage, make_optimizer, train_step
from train.stages import distill_loss_fn, hard_loss_fn, schedule

STAGES = ("teacher", "width", "depth", "finetune")


def build_stages(model: AdaptiveModel, sandwich: bool) -> dict[str, Stage]:
    cfg = build_config()
    widths = [(w, 1.0) for w in cfg.width_mults]
    all12 = grid(cfg.width_mults, cfg.depth_mults)
    teacher = copy.deepcopy(model).eval().requires_grad_(False)

    def make(name: str, subnets, loss, with_teacher: bool) -> Stage:
        return Stage(name, cfg.stage(name.split("-")[0]), copy.deepcopy(model).train(), None, subnets, loss, [],
                     None, teacher if with_teacher else None)

    stages = {
        "teacher": make("teacher", lambda step: [(1.0, 1.0)], hard_loss_fn, False),
        "width": make("width", lambda step: list(widths), distill_loss_fn(cfg, "width", "full"), True),
        "depth": make("depth", lambda step: list(all12), distill_loss_fn(cfg, "depth", "full"), True),
        "finetune": make("finetune", lambda step: list(all12), hard_loss_fn, False),
    }
    if sandwich:
        stages["depth-sandwich"] = make("depth-sandwich", schedule("sandwich", all12, 2, 0),
                                        distill_loss_fn(cfg, "depth", "full"), True)
    return stages


def measure(model: AdaptiveModel, length: int, batch: int, rounds: int, sandwich: bool) -> dict[str, float]:
    rt = setup_runtime("cpu", "fp32")
    stages = build_stages(model, sandwich)
    optimizers = {name: make_optimizer(s.student, s.cfg) for name, s in stages.items()}
    scaler = rt.grad_scaler()
    g = torch.Generator().manual_seed(length)
    data = {"input_ids": torch.randint(1000, 20000, (batch, length), generator=g),
            "attention_mask": torch.ones(batch, length, dtype=torch.long),
            "token_type_ids": torch.zeros(batch, length, dtype=torch.long),
            "labels": torch.randint(0, 2, (batch,), generator=g)}
    times: dict[str, list[float]] = {name: [] for name in stages}
    for r in tqdm(range(rounds + 1), desc=f"max length {length}", leave=False):
        for name, stage in stages.items():
            params = [p for p in stage.student.parameters() if p.requires_grad]
            start = time.perf_counter()
            train_step(stage, stage.student, data, r, optimizers[name], scaler, params, rt)
            if r > 0:  # round 0 is warm-up: allocations, AdamW state, kernel selection
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="64,128", help="max lengths to measure (comma-separated)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sandwich", action="store_true", help="also time a sandwich stage-2 step (4 sub-networks)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/train_step_cost.json"))
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hf, _ = load_classifier("minilm", num_labels=2)
    model = AdaptiveModel(hf)
    g = torch.Generator().manual_seed(0)
    scoring = [{"input_ids": torch.randint(1000, 20000, (4, 32), generator=g), "labels": torch.tensor([0, 1, 0, 1])}]
    rewire(model, compute_importance(model, scoring, progress=False))  # real rewired weights, as in training

    results = []
    for length in [int(x) for x in args.lengths.split(",")]:
        started = time.perf_counter()
        per_stage = measure(model, length, args.batch, args.rounds, args.sandwich)
        full_flops = model_stats(hf.config, length).flops
        flops = [model_stats(sliced_config(hf.config, model.spec(w, d)), length).flops for w, d in grid()]
        share = sum(flops) / full_flops
        ideal = per_stage["teacher"] * share
        row = {"max_length": length, "batch": args.batch, "threads": args.threads, "rounds": args.rounds,
               "seconds_per_step": per_stage,
               "samples_per_second": {k: args.batch / v for k, v in per_stage.items()},
               "stage2_flops_share": share,
               "stage2_ratio_to_flops_ideal": per_stage["depth"] / ideal,
               "stage2_ratio_to_flops_ideal_with_teacher_forward":
                   per_stage["depth"] / (ideal + per_stage["teacher"] / 3),
               "wall_seconds": round(time.perf_counter() - started, 1)}
        results.append(row)
        print(f"\nMiniLM, max length {length}, batch {args.batch}, {args.threads} threads, "
              f"median of {args.rounds} interleaved rounds")
        print(f"{'stage':<15} {'s/step':>8} {'samples/s':>10} {'x full step':>12}")
        for name, seconds in per_stage.items():
            print(f"{name:<15} {seconds:8.3f} {args.batch / seconds:10.2f} {seconds / per_stage['teacher']:12.2f}")
        print(f"stage-2 step / FLOPs-ideal ({share:.2f} full steps) = {row['stage2_ratio_to_flops_ideal']:.3f}; "
              f"{row['stage2_ratio_to_flops_ideal_with_teacher_forward']:.3f} if the teacher's forward "
              "(1/3 full step) is counted in the ideal")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"backbone": "minilm", "torch": torch.__version__, "rows": results}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""What the training options cost and gain, measured with the real stages on a real task.

``sandwich``: stage 2 from the same DynaBERT_w checkpoint, all 12 sub-networks per step for N steps vs
sandwich sampling (largest + smallest + k random) for as many steps as the same FLOPs buy
(``dynabert.stats.model_stats``; the teacher's forward counted as 1/3 of a full step in both). Reports
each sub-network's dev score, the sums and the wall times.

``augment``: stage 1 from the same teacher on a small train subset (several epochs, where augmentation
can matter), without and with TinyBERT-style augmentation, the same number of steps. Reports the time to
build the augmented set, its size, and the four widths' dev scores.

    python benchmarks/train_options.py sandwich --preset quickstart --init RUN/width/checkpoint --steps 24
    python benchmarks/train_options.py augment --preset quickstart --teacher RUN/teacher/checkpoint --steps 40
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from dynabert.arch import grid
from dynabert.checkpoint import load_checkpoint, read_meta
from dynabert.fileio import write_json_atomic
from dynabert.slicing import sliced_config
from dynabert.stats import model_stats
from train.cli import main as train_main

TEACHER_FORWARD = 1 / 3  # of a full forward+backward step


def sandwich_steps(init: Path, steps: int, k: int, seq_len: int = 32) -> tuple[int, float, float]:
    """Steps of sandwich sampling that cost the FLOPs of ``steps`` all-12 steps."""
    model = load_checkpoint(init)[0]
    full = model_stats(model.config, seq_len).flops
    share = {s: model_stats(sliced_config(model.config, model.spec(*s)), seq_len).flops / full for s in grid()}
    largest, smallest = max(share), min(share)
    others = [v for s, v in share.items() if s not in (largest, smallest)]
    per_all = sum(share.values()) + TEACHER_FORWARD
    per_sandwich = share[largest] + share[smallest] + k * statistics.mean(others) + TEACHER_FORWARD
    return round(steps * per_all / per_sandwich), per_all, per_sandwich


def _run(stage: str, argv: list[str]) -> float:
    started = time.perf_counter()
    if train_main([*argv, "--no-progress"], stage=stage) != 0:
        raise SystemExit(f"train.{stage} failed: {argv}")
    return time.perf_counter() - started


def scores(ckpt: Path) -> dict[str, float]:
    meta = read_meta(ckpt)
    key = meta.extra["main_metric"]
    return {name: m[key] for name, m in meta.extra["metrics"].items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["sandwich", "augment"])
    parser.add_argument("--preset", default="quickstart")
    parser.add_argument("--init", type=Path, help="sandwich: the DynaBERT_w checkpoint stage 2 starts from")
    parser.add_argument("--teacher", type=Path, help="augment: the fine-tuned teacher stage 1 starts from")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--k", type=int, default=2, help="sandwich: random sub-networks per step")
    parser.add_argument("--train-examples", type=int, default=400, help="augment: size of the train subset")
    parser.add_argument("--variants", type=int, default=8, help="augment: variants per sentence")
    parser.add_argument("--work", type=Path, default=Path("runs/bench/options"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    common = ["--preset", args.preset] + [x for o in args.overrides for x in ("--set", o)]
    record: dict = {"what": args.what, "preset": args.preset}

    if args.what == "sandwich":
        n_sandwich, per_all, per_sandwich = sandwich_steps(args.init, args.steps, args.k)
        runs = {"all12": ["--set", f"stages.depth.max_steps={args.steps}"],
                "sandwich": ["--set", f"stages.depth.max_steps={n_sandwich}", "--set", "stages.depth.sampling=sandwich",
                             "--set", f"stages.depth.sandwich_random={args.k}"]}
        record.update(steps={"all12": args.steps, "sandwich": n_sandwich},
                      full_steps_per_step={"all12": per_all, "sandwich": per_sandwich})
        for name, extra in runs.items():
            out = args.work / f"sandwich-{name}"
            record.setdefault("seconds", {})[name] = _run("depth", [*common, *extra, "--init", str(args.init),
                                                                     "--out", str(out)])
            record.setdefault("dev", {})[name] = scores(out / "depth" / "checkpoint")
    else:
        runs = {"plain": [], "augmented": ["--set", "augment.enabled=true", "--set",
                                           f"augment.n_variants={args.variants}"]}
        base = ["--set", f"data.max_train_examples={args.train_examples}", "--set",
                f"stages.width.max_steps={args.steps}", "--teacher", str(args.teacher)]
        for name, extra in runs.items():
            out = args.work / f"augment-{name}"
            record.setdefault("seconds", {})[name] = _run("width", [*common, *base, *extra, "--out", str(out)])
            record.setdefault("dev", {})[name] = scores(out / "width" / "checkpoint")

    print(f"\n{args.what}: dev {'score':>10} per sub-network")
    names = list(record["dev"])
    print(f"{'sub-network':<12} " + " ".join(f"{n:>10}" for n in names))
    for sub in record["dev"][names[0]]:
        print(f"{sub:<12} " + " ".join(f"{record['dev'][n][sub]:10.4f}" for n in names))
    print(f"{'sum':<12} " + " ".join(f"{sum(record['dev'][n].values()):10.4f}" for n in names))
    print(f"{'seconds':<12} " + " ".join(f"{record['seconds'][n]:10.1f}" for n in names))
    if "steps" in record:
        print(f"{'steps':<12} " + " ".join(f"{record['steps'][n]:10d}" for n in names))
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"{args.what}.json"
    write_json_atomic(path, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

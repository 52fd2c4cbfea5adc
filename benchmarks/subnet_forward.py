"""Forward time of each of the 12 sub-networks of the adaptive MiniLM vs its FLOPs, as ratios to the full model.

All sub-networks are timed in one run, interleaved round-robin so the machine's drift hits all alike.
If the adaptive model really computes with only the kept slices, time ratios track FLOPs ratios.

    python benchmarks/subnet_forward.py --out runs/bench/subnet_forward.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import grid
from dynabert.backbone import load_classifier
from dynabert.fileio import write_json_atomic
from dynabert.slicing import sliced_config
from dynabert.stats import model_stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="minilm", help="model directory or 'minilm' (the packaged default)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds over all 12 sub-networks")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=Path("runs/bench/subnet_forward.json"))
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    hf, _ = load_classifier(args.backbone, num_labels=2)
    model = AdaptiveModel(hf).eval()
    ids = torch.randint(1000, 20000, (args.batch, args.seq_len))
    mask = torch.ones_like(ids)
    pairs = grid()
    times: dict[tuple[float, float], list[float]] = {p: [] for p in pairs}

    with torch.inference_mode():
        for w, d in pairs:  # warm-up: first calls allocate and pick kernels
            model(ids, mask, width_mult=w, depth_mult=d)
        for _ in tqdm(range(args.rounds), desc="rounds"):
            for w, d in pairs:
                start = time.perf_counter()
                model(ids, mask, width_mult=w, depth_mult=d)
                times[(w, d)].append(time.perf_counter() - start)

    full_time = statistics.median(times[(1.0, 1.0)])
    full_flops = model_stats(hf.config, args.seq_len).flops
    rows = []
    for w, d in pairs:
        spec = model.spec(w, d)
        flops = model_stats(sliced_config(hf.config, spec), args.seq_len).flops
        t = statistics.median(times[(w, d)])
        rows.append({"subnet": spec.name, "width_mult": w, "depth_mult": d, "median_ms": 1000 * t,
                     "time_ratio": t / full_time, "flops": flops, "flops_ratio": flops / full_flops,
                     "efficiency": (flops / full_flops) / (t / full_time)})

    header = f"{'subnet':<12} {'ms':>8} {'time/full':>10} {'FLOPs/full':>11} {'FLOPs-ideal share':>18}"
    print(f"MiniLM adaptive forward, batch {args.batch}, seq {args.seq_len}, {args.threads} threads, "
          f"median of {args.rounds} interleaved rounds")
    print(header)
    for r in rows:
        print(f"{r['subnet']:<12} {r['median_ms']:8.1f} {r['time_ratio']:10.3f} {r['flops_ratio']:11.3f} "
              f"{r['efficiency']:18.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"backbone": args.backbone, "batch": args.batch, "seq_len": args.seq_len, "threads": args.threads,
              "rounds": args.rounds, "torch": torch.__version__, "rows": rows}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

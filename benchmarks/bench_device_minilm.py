"""End-to-end device benchmark of the packaged MiniLM: rewired checkpoint -> export.all -> device_bench.

    python benchmarks/bench_device_minilm.py --out runs/bench/minilm_device

1. Makes a rewired DynaBERT checkpoint of the packaged all-MiniLM-L6-v2, unless ``--ckpt`` points at a
   trained one: head/neuron importance on a few SST-2 training batches, rewiring, then only the
   classifier layer fitted (logistic regression on the full model's pooled output of 2,000 training
   sentences). No distillation: the full model is a fair SST-2 classifier, the sub-networks are not
   trained for (their accuracy drops towards chance). It is for timing and size. A fitted head also keeps
   the logits' margins realistic: an untrained head's near-ties make every INT8 file fail export parity.
2. Exports every sub-model in every format whose tool is installed (``python -m export.all --no-bench``;
   resumes if the folder is already there).
3. Runs the device benchmark with default settings, times it, and prints the issue's three
   performance-target ratios from ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GLUE = REPO.parent / "shared" / "data" / "glue"


def make_checkpoint(path: Path, glue_dir: Path, batches: int = 8, head_examples: int = 2000) -> Path:
    """Rewired MiniLM with a fitted SST-2 classifier layer (encoder untouched, no distillation)."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from dynabert.adaptive import AdaptiveModel
    from dynabert.backbone import load_classifier
    from dynabert.checkpoint import CheckpointMeta, save_checkpoint
    from dynabert.data import get_task, make_dataloader, read_glue_split
    from dynabert.importance import compute_importance
    from dynabert.rewire import rewire

    torch.manual_seed(0)
    task = get_task("sst2")
    hf, tokenizer = load_classifier("minilm", label_names=list(task.label_names))
    model = AdaptiveModel(hf.eval())
    train = read_glue_split(glue_dir, task, "train")[:batches * 32]
    loader = make_dataloader(train, tokenizer, batch_size=32, shuffle=False)
    rewire(model, compute_importance(model, loader, max_batches=batches, progress=False))
    # The classifier reads dropout(pooler_output); in eval mode that is the pooler output itself.
    rng = np.random.default_rng(0)
    full_train = read_glue_split(glue_dir, task, "train")
    pick = rng.choice(len(full_train), size=min(head_examples, len(full_train)), replace=False)
    sample = [full_train[i] for i in pick]
    feats = []
    with torch.no_grad():
        for start in range(0, len(sample), 64):
            chunk = sample[start:start + 64]
            enc = tokenizer([ex.text for ex in chunk], padding=True, truncation=True, max_length=128,
                            return_tensors="pt")
            feats.append(hf.bert(**enc).pooler_output.numpy())
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(np.concatenate(feats), [ex.label for ex in sample])
    with torch.no_grad():
        # Two-class logistic regression has one weight vector; split it symmetrically over the two logits.
        w = torch.tensor(clf.coef_[0] / 2, dtype=torch.float32)
        b = float(clf.intercept_[0]) / 2
        hf.classifier.weight.copy_(torch.stack([-w, w]))
        hf.classifier.bias.copy_(torch.tensor([-b, b]))
    meta = CheckpointMeta(stage="rewired", task=task.name, label_names=list(task.label_names), rewired=True,
                          max_length=128, backbone="minilm",
                          extra={"data_dir": str(glue_dir),
                                 "note": "importance, rewiring, classifier layer fitted; no distillation"})
    return save_checkpoint(path, model, tokenizer, meta)


def target_ratios(results: dict) -> list[str]:
    """The issue's three performance targets, as measured (reported, never asserted)."""
    rows = [r for r in results["rows"] if r.get("p50_ms") is not None]

    def p50(subnet: str, fmt: str, runtime: str, threads: int, seq: int) -> float | None:
        for r in rows:
            if (r["subnet"], r["format"], r["runtime"], r["threads"], r["seq_len"]) == (subnet, fmt, runtime,
                                                                                      threads, seq):
                return r["p50_ms"]
        return None

    seq = max(r["seq_len"] for r in rows)
    full = results["full_subnet"]
    lines = []
    ref = p50(full, "onnx", "onnxruntime-cpu", 1, seq)
    small = next((s["name"] for s in results["subnets"] if (s["width_mult"], s["depth_mult"]) == (0.25, 0.5)), None)
    for fmt, runtime in (("onnx-int8", "onnxruntime-cpu"), ("ort-int8", "onnxruntime-mobile")):
        t = p50(small, fmt, runtime, 1, seq) if small else None
        if ref and t:
            lines.append(f"target 1: {small} {fmt} ({runtime}, 1 thread, seq {seq}) is {ref / t:.2f}x faster "
                         f"than {full} onnx fp32 (goal >= 8x)")
    worst: tuple[float, str] | None = None
    for r in rows:
        eff = r.get("flops_efficiency")
        if eff is not None and r["subnet"] != full and (worst is None or eff < worst[0]):
            worst = (eff, f"{r['subnet']} {r['format']} {r['runtime']} {r['threads']}t seq {r['seq_len']}")
    if worst:
        share = sum(1 for r in rows if r.get("flops_efficiency") is not None and r["subnet"] != full
                    and r["flops_efficiency"] >= 0.75)
        total = sum(1 for r in rows if r.get("flops_efficiency") is not None and r["subnet"] != full)
        lines.append(f"target 2: {share}/{total} sub-model rows reach >= 75% of the FLOPs-ideal speed-up; "
                     f"worst {worst[0]:.0%} ({worst[1]})")
    for threads in sorted({r["threads"] for r in rows}):
        fp32, int8 = p50(full, "onnx", "onnxruntime-cpu", threads, seq), p50(full, "onnx-int8", "onnxruntime-cpu",
                                                                             threads, seq)
        if fp32 and int8:
            lines.append(f"target 3: {full} onnx-int8 is {fp32 / int8:.2f}x faster than onnx fp32 ({threads} "
                         f"thread(s), seq {seq}; goal >= 1.5x)")
    acc = {(a["subnet"], a["format"]): a.get("metric") for a in results["artifacts"]}
    if acc.get((full, "onnx")) is not None and acc.get((full, "onnx-int8")) is not None:
        diff = 100 * (acc[(full, "onnx-int8")] - acc[(full, "onnx")])
        lines.append(f"target 3: {full} onnx-int8 {results['metric_name']} differs from fp32 by {diff:+.2f} points "
                     f"(goal within 0.5)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "minilm_device")
    parser.add_argument("--ckpt", type=Path, help="a rewired checkpoint (default: make one under --out)")
    parser.add_argument("--glue-dir", type=Path, default=GLUE)
    parser.add_argument("--formats", help="comma-separated formats for export.all (default: all installed)")
    parser.add_argument("--skip-export", action="store_true", help="reuse the export under --out as it is")
    parser.add_argument("--fast", action="store_true", help="device_bench --fast settings")
    args = parser.parse_args(argv)

    ckpt = args.ckpt or args.out / "ckpt"
    if args.ckpt is None and not (ckpt / "dynabert.json").is_file():
        print(f"making a rewired MiniLM checkpoint in {ckpt}")
        make_checkpoint(ckpt, args.glue_dir)
    export_dir = args.out / "export"
    if not args.skip_export:
        cmd = [sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(export_dir), "--no-bench",
               "--data-dir", str(args.glue_dir)]
        if args.formats:
            cmd += ["--formats", args.formats]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=REPO)
        print(f"export: {time.perf_counter() - t0:.0f} s")
    bench_dir = args.out / "bench"
    cmd = [sys.executable, "-m", "device_bench", "--manifest", str(export_dir / "manifest.json"),
           "--out", str(bench_dir), "--data-dir", str(args.glue_dir)]
    if args.fast:
        cmd.append("--fast")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    wall = time.perf_counter() - t0
    results = json.loads((bench_dir / "results.json").read_text())
    print(f"device_bench wall time: {wall:.0f} s (harness's own count: {results['wall_seconds']:.0f} s)")
    for line in target_ratios(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

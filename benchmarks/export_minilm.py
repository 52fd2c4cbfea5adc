"""Time ``export.all`` on the packaged MiniLM: 12 sub-models x every installed format, all verified.

    python benchmarks/export_minilm.py --out out/bench/export_minilm

1. Builds a rewired MiniLM checkpoint (SST-2): head/neuron importance on SST-2 dev batches, rewiring, and
   (by default) a linear-probe classifier head. No DynaBERT training (that is train/'s job), so small
   sub-models classify poorly, but export and parity do not depend on accuracy.
2. Runs ``python -m export.all`` on it in a fresh process (as a user would) and times it.
3. Prints and writes ``<out>/export_minilm.json``: wall time, seconds per format (summed over the 12
   sub-models, time spent in the worker processes), artifact sizes, and the 12 INT8 files' sizes.

Why the probe head: a freshly initialised head outputs logits of about +-0.005, so the argmax of each
example hangs on noise far below INT8's rounding, and the INT8 agreement gate would measure that noise.
A logistic regression on the frozen pooled features (about 20 s) gives logits of realistic size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from dynabert.fileio import write_json_atomic
from dynabert.files.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GLUE = REPO.parent / "shared" / "data" / "glue"
INT8_FORMATS = ("onnx-int8", "ort-int8", "onnx-qdq", "ort-qdq", "coreml-int8", "pte-int8")


def build_checkpoint(path: Path, glue: Path, head: str, importance_batches: int, probe_examples: int) -> float:
    """Write a rewired MiniLM SST-2 checkpoint to ``path``; return the seconds it took."""
    import torch

    from dynabert.adaptive import AdaptiveModel
    from dynabert.backbone import load_classifier
    from dynabert.checkpoint import CheckpointMeta, save_checkpoint
    from dynabert.data import get_task, make_dataloader, read_glue_split
    from dynabert.importance import compute_importance
    from dynabert.rewire import rewire

    start = time.perf_counter()
    torch.manual_seed(0)
    task = get_task("sst2")
    hf, tokenizer = load_classifier("minilm", label_names=list(task.label_names))
    model = AdaptiveModel(hf.eval())
    dev = read_glue_split(glue, task, "dev")
    loader = make_dataloader(dev, tokenizer, batch_size=32, shuffle=True, seed=0)
    rewire(model, compute_importance(model, loader, max_batches=importance_batches, progress=False))
    if head == "probe":
        _fit_probe(model, tokenizer, read_glue_split(glue, task, "train")[:probe_examples])
    meta = CheckpointMeta(stage="width", task=task.name, label_names=list(task.label_names), rewired=True,
                          backbone="minilm", extra={"data_dir": str(glue), "head": head,
                                                    "note": "benchmark checkpoint: rewired, not DynaBERT-trained"})
    save_checkpoint(path, model, tokenizer, meta)
    return time.perf_counter() - start


def _fit_probe(model, tokenizer, examples) -> None:
    """Logistic regression on the full model's pooled features, written into the classifier head."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from dynabert.data import make_dataloader

    feats, labels = [], []
    with torch.no_grad():
        for batch in make_dataloader(examples, tokenizer, batch_size=64, shuffle=False):
            out = model.base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             token_type_ids=batch.get("token_type_ids"))
            feats.append(out.pooler_output.numpy())
            labels.append(batch["labels"].numpy())
    x, y = np.concatenate(feats), np.concatenate(labels)
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, y)
    # Two-class logits from a one-vs-rest decision: +-half the decision value keeps softmax identical.
    weight = np.stack([-clf.coef_[0] / 2, clf.coef_[0] / 2]).astype(np.float32)
    bias = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2], dtype=np.float32)
    head = model.hf.classifier
    head.weight.data = torch.from_numpy(weight)
    head.bias.data = torch.from_numpy(bias)


def summarize(manifest: dict, wall_s: float, ckpt_s: float) -> dict:
    per_format_s: dict[str, float] = defaultdict(float)
    per_format_cpu: dict[str, float] = defaultdict(float)
    per_format_bytes: dict[str, int] = defaultdict(int)
    for art in manifest["artifacts"]:
        per_format_s[art["format"]] += art.get("export_seconds") or 0.0
        per_format_cpu[art["format"]] += art.get("export_cpu_seconds") or 0.0
        per_format_bytes[art["format"]] += art.get("bytes") or 0
    int8 = {fmt: {a["subnet"]: a["bytes"] for a in manifest["artifacts"] if a["format"] == fmt and a["bytes"]}
            for fmt in INT8_FORMATS if any(a["format"] == fmt for a in manifest["artifacts"])}
    approx = [a for a in manifest["artifacts"] if (a.get("parity") or {}).get("gate") == "approx"]
    return {
        "export_wall_s": round(wall_s, 1),
        "checkpoint_build_s": round(ckpt_s, 1),
        "within_10_min": wall_s <= 600,
        "cpu_count": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "seconds_per_format": {k: round(v, 1) for k, v in per_format_s.items()},
        "cpu_seconds_per_format": {k: round(v, 1) for k, v in per_format_cpu.items()},
        "bytes_per_format": dict(per_format_bytes),
        "int8_bytes": int8,
        "lowest_int8_argmax_agreement": min((a["parity"]["argmax_agreement"] for a in approx), default=None),
        "int8_verified_on": max((a["parity"]["n"] for a in approx), default=None),
        "failed": [a["id"] for a in manifest["artifacts"] if a["status"] == "failed"],
        "summary": manifest["summary"],
        "tools": manifest["tools"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the checkpoint, the export and the JSON report")
    p.add_argument("--ckpt", help="export this checkpoint (e.g. runs/quickstart/finetune/checkpoint) instead of "
                                  "building the rewired benchmark checkpoint")
    p.add_argument("--data-dir", default=str(DEFAULT_GLUE), help="GLUE directory (default: ../shared/data/glue)")
    p.add_argument("--head", choices=("probe", "random"), default="probe", help="classifier head (see module doc)")
    p.add_argument("--jobs", type=int, default=None, help="export.all --jobs (default: its own)")
    p.add_argument("--formats", default=None, help="export.all --formats (default: every installed format)")
    p.add_argument("--force", action="store_true", help="re-export everything (default: resume)")
    p.add_argument("--importance-batches", type=int, default=8)
    p.add_argument("--probe-examples", type=int, default=1000)
    args = p.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ckpt = Path(args.ckpt).resolve() if args.ckpt else out / "ckpt"
    ckpt_s = 0.0
    if not args.ckpt and not (ckpt / "dynabert.json").is_file():
        ckpt_s = build_checkpoint(ckpt, Path(args.data_dir), args.head, args.importance_batches,
                                  args.probe_examples)
        print(f"checkpoint: {ckpt} ({ckpt_s:.0f} s)")
    export_dir = out / "export"
    # --allow-failures: a failing artifact is reported in the JSON rather than hiding the timings.
    cmd = [sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(export_dir), "--no-bench",
           "--allow-failures"]
    if args.force:
        cmd.append("--force")
    if args.jobs:
        cmd += ["--jobs", str(args.jobs)]
    if args.formats:
        cmd += ["--formats", args.formats]
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=REPO).returncode
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # export.all and its workers (waited for by it, so counted in our children's usage).
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    manifest = read_manifest(export_dir / "manifest.json").raw
    report = {"command": " ".join(cmd[1:]), "exit_code": code, **summarize(manifest, wall, ckpt_s),
              "export_cpu_s": round(cpu, 1), "load_average_before": load_before,
              # What the wall time would be with the cores to ourselves and perfect overlap: a lower bound.
              "idle_machine_estimate_s": round(cpu / (os.cpu_count() or 1), 1)}
    write_json_atomic(out / "export_minilm.json", report)

    print(f"\nexport.all: {wall:.0f} s wall for {manifest['summary']['total']} artifacts "
          f"({'within' if wall <= 600 else 'OVER'} the 10-minute budget); exit code {code}")
    print(f"CPU time {report['export_cpu_s']:.0f} s (= {report['idle_machine_estimate_s']:.0f} s on "
          f"{os.cpu_count()} idle cores at best); load average before/after: "
          f"{load_before[0]:.1f} / {report['load_average_after'][0]:.1f}")
    print("per format, summed over the sub-models:   wall s    CPU s")
    for fmt, secs in report["seconds_per_format"].items():
        print(f"  {fmt:12s} {secs:27.1f} {report['cpu_seconds_per_format'][fmt]:8.1f}")
    for fmt, sizes in report["int8_bytes"].items():
        print(f"{fmt} sizes (MB): " + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sizes.items()))
    print(f"report: {out / 'export_minilm.json'}")
    return code


if __name__ == "__main__":
    sys.exit(main())

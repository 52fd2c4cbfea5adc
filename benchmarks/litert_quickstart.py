"""LiteRT beside ONNX Runtime INT8 on an existing export: conversion time, sizes, agreement, latency.

    python benchmarks/litert_quickstart.py --export runs/quickstart/export --out /tmp/litert_bench \
        [--seq 128] [--n-dev 300] [--rounds 30] [--subnets ...] [--measure w1_d1,w0.25_d0.5]

Reads each sub-model's ``hf/`` and ``model.int8.onnx`` (nothing in the export is written) and, per sub-model:

1. converts ``hf/`` to fp32 ``.tflite`` (length buckets 16, 32, ... up to ``--seq``) and quantizes it to dynamic-range
   INT8 (:mod:`export.litert`), timing both (wall and CPU seconds; the machine may be shared);

and, for the sub-models in ``--measure`` (default: all),

2. runs the dev examples of the export's verification data (each padded to ``--seq`` by the runner) in
   PyTorch, both ``.tflite`` files and ``model.int8.onnx``: max |logit diff| and argmax agreement against
   PyTorch, and accuracy against the labels;
3. times one ``--seq``-token input at 1 and 2 threads, the three files interleaved round by round in one
   process so that they share whatever load the machine has: p50 of ``--rounds`` runs each.

Writes ``litert_quickstart.json`` and ``litert_quickstart.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dynabert.fileio import write_json_atomic, write_text_atomic  # noqa: E402
from dynabert.files.manifest import read_manifest  # noqa: E402
from export.litert import LiteRTSession, export_litert, quantize_litert_int8, tflite_weight_count  # noqa: E402

WARMUP = 3
#: A second, short length timed too: LiteRT runs it in its 32-token bucket, ONNX Runtime at exactly 32.
SHORT = 32


def ort_session(path: Path, threads: int):
    """ONNX Runtime as device_bench's onnxruntime-mobile runs a file: sequential, no thread spinning (a
    spinning pool also steals the CPU the interleaved LiteRT runs need on a shared machine)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def dev_examples(manifest: dict, export: Path, n: int) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    """The first ``n`` rows of the export's verification CSV (``text,label``), tokenized at max_length."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(export / manifest["tokenizer"]["dir"])
    labels = manifest["label_names"]
    with open(manifest["verification"]["data"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:n]
    features, gold = [], []
    for row in rows:
        enc = tokenizer(row["text"], truncation=True, max_length=manifest["max_length"], return_tensors="np")
        features.append({k: v.astype(np.int64) for k, v in enc.items()})
        gold.append(labels.index(row["label"]))
    return features, gold


def agreement(logits: np.ndarray, reference: np.ndarray, gold: list[int]) -> dict:
    return {"max_abs_diff": float(np.abs(logits - reference).max()),
            "argmax_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
            "accuracy": float((logits.argmax(1) == np.asarray(gold)).mean())}


def latency(runners: dict, feed: dict[str, np.ndarray], rounds: int) -> dict[str, dict[str, float]]:
    """p50 and min milliseconds of each runner on ``feed``, the runners taking turns round by round (on a
    shared machine the min is the run least disturbed by the neighbours)."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(WARMUP):
        for run in runners.values():
            run(feed)
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(feed)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: {"p50": round(statistics.median(t), 3), "min": round(min(t), 3)} for name, t in times.items()}


def convert_subnet(sub: dict, export: Path, out: Path, args) -> dict:
    """Step 1: the two .tflite files of ``sub``, timed, with their sizes and weight counts."""
    from export.wrapper import load_eager

    hf = load_eager(export / sub["name"] / "hf")
    fp32, int8 = out / sub["name"] / "model.tflite", out / sub["name"] / "model.int8.tflite"
    wall, cpu = time.perf_counter(), time.process_time()
    details = export_litert(hf, input_names(sub, args.manifest), args.seq, fp32)
    convert = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    quantize_litert_int8(fp32, int8)
    quantize = (time.perf_counter() - wall, time.process_time() - cpu)
    return {
        "subnet": sub["name"], "params": sub["params"]["total"],
        "convert_seconds": round(convert[0], 2), "convert_cpu_seconds": round(convert[1], 2),
        "quantize_seconds": round(quantize[0], 2), "quantize_cpu_seconds": round(quantize[1], 2),
        "bytes": {"litert": fp32.stat().st_size, "litert-int8": int8.stat().st_size,
                  "onnx-int8": (export / sub["name"] / "model.int8.onnx").stat().st_size},
        "weights_counted": {"litert": tflite_weight_count(fp32), "litert-int8": tflite_weight_count(int8)},
        "details": details,
    }


def input_names(sub: dict, manifest: dict) -> list[str]:
    art = next(a for a in manifest["artifacts"] if a["subnet"] == sub["name"] and a["format"] == "onnx-int8")
    return [i["name"] for i in art["inputs"]]


def measure_subnet(sub: dict, export: Path, out: Path, args, features, gold) -> dict:
    """Step 2: agreement with PyTorch on dev, accuracy, and interleaved p50 latency at 1 and 2 threads."""
    import torch

    from export.wrapper import load_eager

    names = input_names(sub, args.manifest)
    hf = load_eager(export / sub["name"] / "hf")
    fp32, int8 = out / sub["name"] / "model.tflite", out / sub["name"] / "model.int8.tflite"
    onnx_int8 = export / sub["name"] / "model.int8.onnx"
    with torch.no_grad():
        reference = np.concatenate([hf(**{k: torch.from_numpy(v) for k, v in f.items()}).logits.numpy()
                                    for f in features])
    ort = ort_session(onnx_int8, threads=1)
    sessions = {"litert": LiteRTSession(fp32, 1), "litert-int8": LiteRTSession(int8, 1)}
    outputs = {name: np.concatenate([s.run({n: f[n] for n in names}) for f in features])
               for name, s in sessions.items()}
    outputs["onnx-int8"] = np.concatenate([ort.run(None, {n: f[n] for n in names})[0] for f in features])
    for s in sessions.values():
        s.close()

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000, (1, args.seq), dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    feed = {n: feed[n] for n in names}
    short = {n: v[:, :SHORT] for n, v in feed.items()}
    ms = {}
    for threads in (1, 2):
        lite = {"litert": LiteRTSession(fp32, threads), "litert-int8": LiteRTSession(int8, threads)}
        ort_t = ort_session(onnx_int8, threads=threads)
        runners = {"litert": lite["litert"].run, "litert-int8": lite["litert-int8"].run,
                   "onnx-int8": lambda f, s=ort_t: s.run(None, f)[0]}
        ms[threads] = latency(runners, feed, args.rounds)
        ms[f"{threads}@{SHORT}"] = latency(runners, short, args.rounds)
        for s in lite.values():
            s.close()
    return {"parity": {name: agreement(o, reference, gold) for name, o in outputs.items()},
            "pytorch_accuracy": float((reference.argmax(1) == np.asarray(gold)).mean()), "latency_ms": ms}


def _times(t: dict) -> str:
    return " / ".join(f"{t[k]['p50']:.1f} ({t[k]['min']:.1f})" for k in ("litert", "litert-int8", "onnx-int8"))


def markdown(results: list[dict], args) -> str:
    mb = 1e6
    lines = [f"LiteRT beside ONNX Runtime INT8 on {args.export}: .tflite files with buckets up to {args.seq}; "
             f"{platform.machine()}, a shared CPU (wall seconds depend on the neighbours, CPU seconds less)", "",
             "| sub-model | params | convert s (CPU s) | quantize s | fp32 MB | INT8 MB | ORT INT8 MB |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        b = r["bytes"]
        lines.append(f"| {r['subnet']} | {r['params'] / 1e6:.1f} M | {r['convert_seconds']:.1f} "
                     f"({r['convert_cpu_seconds']:.1f}) | {r['quantize_seconds']:.1f} | {b['litert'] / mb:.1f} | "
                     f"{b['litert-int8'] / mb:.1f} | {b['onnx-int8'] / mb:.1f} |")
    measured = [r for r in results if "latency_ms" in r]
    if measured:
        lines += ["", f"Against PyTorch on the first {args.n_dev} dev rows (each padded to its bucket by the "
                      f"runner); latency p50 (min) of {args.rounds} runs at {args.seq} and {SHORT} tokens, the "
                      "three files taking turns.", "",
                  "| sub-model | fp32 max diff | INT8 agree | ORT INT8 agree | accuracy pt / INT8 / ORT INT8 "
                  "| 1 thread ms fp32 / INT8 / ORT INT8 | 2 threads ms fp32 / INT8 / ORT INT8 "
                  f"| {SHORT} tokens, 1 thread | {SHORT} tokens, 2 threads |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in measured:
            p, t = r["parity"], r["latency_ms"]
            lines.append(
                f"| {r['subnet']} | {p['litert']['max_abs_diff']:.1e} | {p['litert-int8']['argmax_agreement']:.3f} | "
                f"{p['onnx-int8']['argmax_agreement']:.3f} | {r['pytorch_accuracy']:.3f} / "
                f"{p['litert-int8']['accuracy']:.3f} / {p['onnx-int8']['accuracy']:.3f} | "
                f"{_times(t[1])} | {_times(t[2])} | {_times(t[f'1@{SHORT}'])} | {_times(t[f'2@{SHORT}'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, required=True, help="an export folder (holding manifest.json)")
    parser.add_argument("--out", type=Path, required=True, help="where the .tflite files and results go")
    parser.add_argument("--seq", type=int, default=128, help="the longest bucket of the .tflite files")
    parser.add_argument("--n-dev", type=int, default=300, help="dev examples for agreement and accuracy")
    parser.add_argument("--rounds", type=int, default=30, help="timed runs per file and thread count")
    parser.add_argument("--subnets", help="comma-separated sub-models to convert (default: all)")
    parser.add_argument("--measure", help="comma-separated sub-models to also run and time (default: all converted)")
    args = parser.parse_args(argv)
    args.manifest = read_manifest(args.export / "manifest.json").raw
    subnets = args.manifest["subnets"]
    if args.subnets:
        subnets = [s for s in subnets if s["name"] in args.subnets.split(",")]
    results = []
    for sub in tqdm(subnets, desc="convert"):
        results.append(convert_subnet(sub, args.export, args.out, args))
        write_json_atomic(args.out / "litert_quickstart.json", results)  # partial results survive a kill
    features, gold = dev_examples(args.manifest, args.export, args.n_dev)
    measure = args.measure.split(",") if args.measure else [s["name"] for s in subnets]
    for sub, result in tqdm(list(zip(subnets, results, strict=True)), desc="measure"):
        if sub["name"] in measure:
            result.update(measure_subnet(sub, args.export, args.out, args, features, gold))
            write_json_atomic(args.out / "litert_quickstart.json", results)
    write_text_atomic(args.out / "litert_quickstart.md", markdown(results, args))
    print(markdown(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

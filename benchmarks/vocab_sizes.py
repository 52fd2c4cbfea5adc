"""File sizes and dev metric of every sub-model with the full vocabulary and with ``--vocab task``.

    python benchmarks/vocab_sizes.py --ckpt runs/quickstart/finetune/checkpoint --out out/bench/vocab

1. Runs ``python -m export.all`` twice on the checkpoint (``--vocab full`` and ``--vocab task``; both cut the
   position table to ``--max-length``), with ``--formats`` (default ``onnx,onnx-int8``; both add
   ``onnx-int4emb``), in fresh processes as a user would.
2. Runs every ONNX file of both exports over the whole dev set, one example at a time (what the app does;
   dynamic INT8 depends on the batch), tokenized with that export's own tokenizer.
3. Prints and writes ``<out>/vocab_sizes.json``: per sub-model and format the bytes and the task's main
   metric with and without pruning (``comparisons``: each file beside the same format without pruning, the
   4-bit-table files beside the full-vocabulary INT8 file too), and the export's report of how the dev set's
   tokenization changed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from dynabert.fileio import write_json_atomic
from dynabert.files.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]


def export(ckpt: Path, out: Path, vocab: str, formats: list[str], max_length: int) -> dict:
    cmd = [sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(out), "--vocab", vocab,
           "--formats", ",".join(formats), "--max-length", str(max_length), "--no-bench", "--no-progress",
           # A file that misses its gate is reported (status "failed" in the manifest and here), not measured.
           "--allow-failures"]
    proc = subprocess.run(cmd, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"vocab_sizes: export.all --vocab {vocab} failed (exit {proc.returncode})")
    return read_manifest(out / "manifest.json").raw


def evaluate(out: Path, manifest: dict, ckpt: Path) -> dict[str, dict]:
    """Main dev metric of each ONNX file of an export (whole dev split)."""
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from dynabert.checkpoint import read_meta
    from dynabert.data import compute_metrics, custom_task, get_task
    from export.inputs import read_examples, resolve_data

    meta = read_meta(ckpt)
    source = resolve_data(None, meta.task, meta.label_names, meta.extra or {}, ckpt, recorded=meta.data)
    dev = read_examples(source, "dev")
    try:
        task = get_task(meta.task)
    except ValueError:
        task = custom_task(len(meta.label_names or []) or 1, is_regression=meta.is_regression,
                           label_names=tuple(meta.label_names) if meta.label_names else None)
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    features = [tokenizer(ex.text, ex.text_pair, truncation=True, max_length=manifest["max_length"],
                          return_tensors="np") for ex in dev]
    labels = np.array([ex.label for ex in dev])
    results = {}
    for art in manifest["artifacts"]:
        if art["runtime"] != "onnxruntime" or art["status"] == "failed":
            continue
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(out / art["path"]), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        logits = np.concatenate([session.run(None, {n: f[n].astype(np.int64) for n in names})[0] for f in features])
        metric = compute_metrics(task, logits, labels)[task.main_metric]
        results[art["id"]] = {"bytes": art["bytes"], "metric": metric, "status": art["status"]}
        print(f"{out.name:>5} {art['id']:<28} {art['bytes'] / 1e6:7.2f} MB  {task.main_metric} {100 * metric:.2f}",
              flush=True)
    return results


def compare(full: dict[str, dict], task: dict[str, dict]) -> list[dict]:
    """Each task-vocabulary file beside the same file without pruning (files that failed are left out)."""
    rows = []
    for art_id, after in task.items():
        before = full.get(art_id)
        if before is None:
            continue
        int8 = full.get(art_id.replace("onnx-int4emb", "onnx-int8")) if art_id.endswith("onnx-int4emb") else None
        rows.append({"id": art_id, "full_bytes": before["bytes"], "task_bytes": after["bytes"],
                     "full_metric": before["metric"], "task_metric": after["metric"],
                     "delta": after["metric"] - before["metric"],
                     "delta_vs_full_int8": None if int8 is None else after["metric"] - int8["metric"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, type=Path, help="a rewired DynaBERT checkpoint")
    p.add_argument("--out", type=Path, default=Path("out/bench/vocab"), help="output folder")
    p.add_argument("--formats", default="onnx,onnx-int8", help="formats of both exports (default %(default)s)")
    p.add_argument("--max-length", type=int, default=128, help="--max-length of both exports (default %(default)s)")
    args = p.parse_args(argv)
    formats = [f for f in args.formats.split(",") if f]
    report: dict = {"checkpoint": str(args.ckpt), "max_length": args.max_length, "runs": {}}
    # Both exports add the 4-bit-table file: each task file is compared with the same format without pruning
    # (the bound), and the 4-bit ones with the full-vocabulary INT8 file too (what they replace).
    fmts = list(dict.fromkeys([*formats, "onnx-int4emb"]))
    for vocab in ("full", "task"):
        out = args.out / vocab
        manifest = export(args.ckpt, out, vocab, fmts, args.max_length)
        report["runs"][vocab] = {"embeddings": manifest.get("embeddings"), "files": evaluate(out, manifest, args.ckpt)}
    report["comparisons"] = compare(report["runs"]["full"]["files"], report["runs"]["task"]["files"])
    print(f"\n{'file':<28} {'full MB':>8} {'task MB':>8} {'Δ metric (pts)':>15}   vs full-vocabulary INT8")
    for row in report["comparisons"]:
        vs_int8 = "" if row["delta_vs_full_int8"] is None else f"   {100 * row['delta_vs_full_int8']:+.2f}"
        print(f"{row['id']:<28} {row['full_bytes'] / 1e6:8.2f} {row['task_bytes'] / 1e6:8.2f} "
              f"{100 * row['delta']:+15.2f}{vs_int8}")
    changes = report["runs"]["task"]["embeddings"]["dev_tokenization"]
    print(f"dev tokenization with the task vocabulary: {changes['changed_tokens_share']:.2%} of tokens, "
          f"{changes['changed_texts_share']:.2%} of texts differ")
    write_json_atomic(args.out / "vocab_sizes.json", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

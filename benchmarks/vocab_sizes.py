"""File sizes and dev metric of every sub-model with the full vocabulary and with ``--vocab task``.

    python benchmarks/vocab_sizes.py --ckpt runs/quickstart/finetune/checkpoint --out out/bench/vocab

1. Runs ``python -m export.all`` twice on the checkpoint (``--vocab full`` and ``--vocab task``; both cut the
   position table to ``--max-length``), with ``--formats`` (default ``onnx,onnx-int8``; both add
   ``onnx-int4emb``), in fresh processes as a user would. ``--vocab-corpus`` files and ``--common-words N``
   (the N most frequent English words, from the ``wordfreq`` package, written to ``<out>/common-words-N.txt``)
   go to the task export's ``--vocab-corpus``: rows for words training never saw, chosen without the dev set.
2. Runs every ONNX file of both exports over the whole dev set, one example at a time (what the app does;
   dynamic INT8 depends on the batch), tokenized with that export's own tokenizer, each opened with the session
   settings it ships with.
3. Prints and writes ``<out>/vocab_sizes.json``: per sub-model and format the bytes and the task's main
   metric with and without pruning (``comparisons``: each file beside the same format without pruning, the
   4-bit-table files beside the full-vocabulary INT8 file too), and the export's report of how the dev set's
   tokenization changed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from device_bench.weights import weight_split
from dynabert.arch import subnet_name
from dynabert.fileio import write_json_atomic, write_text_atomic
from dynabert.files.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]


def export(ckpt: Path, out: Path, vocab: str, formats: list[str], max_length: int,
           corpus: list[Path] | None = None) -> dict:
    cmd = [sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(out), "--vocab", vocab,
           "--formats", ",".join(formats), "--max-length", str(max_length), "--no-bench", "--no-progress",
           # A file that misses its gate is reported (status "failed" in the manifest and here), not measured.
           "--allow-failures"]
    if corpus:
        cmd += ["--vocab-corpus", *map(str, corpus)]
    proc = subprocess.run(cmd, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"vocab_sizes: export.all --vocab {vocab} failed (exit {proc.returncode})")
    return read_manifest(out / "manifest.json").raw


def evaluate(out: Path, manifest: dict) -> dict[str, dict]:
    """Main dev metric of each ONNX file of an export (whole dev split: device_bench's dev set, tokenized with the
    export's own tokenizer), each file opened with the session settings it ships with."""
    import numpy as np

    from device_bench.accuracy import load_dev_set
    from device_bench.manifest_reader import read_manifest as read_typed
    from dynabert.data import compute_metrics
    from export import session_settings as S

    dev = load_dev_set(read_typed(out / "manifest.json", verify_files=False))
    results = {}
    for art in manifest["artifacts"]:
        if art["runtime"] != "onnxruntime" or art["status"] == "failed":
            continue
        session = S.session(out / art["path"], art.get("session_settings") or S.DEFAULT)
        names = [i.name for i in session.get_inputs()]
        logits = np.concatenate([session.run(None, {n: f[n] for n in names})[0] for f in dev.features])
        metric = compute_metrics(dev.task, logits, dev.labels)[dev.main_metric]
        results[art["id"]] = {"bytes": art["bytes"], "metric": metric, "metric_name": dev.main_metric,
                              "status": art["status"], "details_method": (art.get("details") or {}).get("method"),
                              "split": weight_split(out / art["path"])}
        print(f"{out.name:>5} {art['id']:<28} {art['bytes'] / 1e6:7.2f} MB  {dev.main_metric} {100 * metric:.2f}",
              flush=True)
    return results


def common_words_file(n: int, folder: Path, words: list[str] | None = None) -> Path:
    """``folder/common-words-N.txt``: the ``n`` most frequent English words (``wordfreq.top_n_list``), one a
    line, for ``--vocab-corpus``. ``words`` replaces wordfreq's list (tests)."""
    if n < 1:
        raise SystemExit(f"vocab_sizes: --common-words must be >= 1, got {n}")
    if words is None:
        try:
            import wordfreq
        except ImportError:
            raise SystemExit("vocab_sizes: --common-words needs the wordfreq package: pip install wordfreq") from None
        words = wordfreq.top_n_list("en", n)
    path = folder / f"common-words-{n}.txt"
    write_text_atomic(path, "\n".join(words[:n]) + "\n")
    return path


#: Files that replace the full-vocabulary INT8 file for size: each is also compared with that INT8 file.
SMALLER_THAN_INT8 = ("onnx-int4emb", "onnx-int4ffn")


def failed_ids(manifest: dict) -> list[str]:
    """The ONNX files of an export that missed their gate (``evaluate`` leaves them out)."""
    return sorted(a["id"] for a in manifest["artifacts"] if a["runtime"] == "onnxruntime" and a["status"] == "failed")


def compare(full: dict[str, dict], task: dict[str, dict]) -> list[dict]:
    """Each task-vocabulary file beside the same file without pruning (files that failed are left out)."""
    rows = []
    for art_id, after in task.items():
        before = full.get(art_id)
        if before is None:
            continue
        subnet, fmt = art_id.split("/")
        int8 = full.get(f"{subnet}/onnx-int8") if fmt in SMALLER_THAN_INT8 else None
        rows.append({"id": art_id, "full_bytes": before["bytes"], "task_bytes": after["bytes"],
                     "full_metric": before["metric"], "task_metric": after["metric"],
                     "delta": after["metric"] - before["metric"],
                     "delta_vs_full_int8": None if int8 is None else after["metric"] - int8["metric"]})
    return rows


#: The issue's bounds (#13): the smallest sub-model's best file and the full model's INT8 file, each within
#: MAX_DROP of the same file without pruning.
SMALLEST_MAX_MB, FULL_INT8_MAX_MB, MAX_DROP = 5.0, 12.0, 0.005


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:.2f}"


def render(report: dict) -> str:
    """The size document: every file with and without pruning, the byte split, and the issue's bounds."""
    runs, ckpt = report["runs"], report["checkpoint"]
    full, task = runs["full"]["files"], runs["task"]["files"]
    rows = {r["id"]: r for r in compare(full, task)}
    emb = runs["task"]["embeddings"]
    metric = next(iter(task.values())).get("metric_name", "metric")
    changes = emb["dev_tokenization"]
    sources = ", ".join(f"{s['what']}: {s['ids']:,} ids" for s in emb["sources"])
    out = ["# Size: task vocabulary and 4-bit embedding tables", "",
           f"Generated by `{report.get('command') or f'python benchmarks/vocab_sizes.py --ckpt {ckpt} --doc ...'}` "
           "(two exports "
           f"of the same checkpoint at `--max-length {report['max_length']}`, `--vocab full` and `--vocab task`; "
           f"every ONNX file run over the whole dev set one example at a time). Dev {metric} ×100.", "",
           f"- vocabulary: {emb['full_vocab_size']:,} -> {emb['vocab_size']:,} rows ({sources}); position table "
           f"{emb['full_position_rows']} -> {emb['position_rows']} rows",
           f"- dev set tokenized with the task vocabulary: {changes['changed_tokens_share']:.2%} of "
           f"{changes['tokens']:,} tokens and {changes['changed_texts_share']:.2%} of {changes['texts']:,} texts "
           "differ from the full vocabulary (words never seen in training are spelled in smaller pieces)", "",
           "| sub-model | format | full MB | task MB | full | task | Δ (pts) | task: embeddings / encoder / head MB |",
           "|---|---|---|---|---|---|---|---|"]
    for art_id, r in sorted(rows.items(), key=lambda kv: (kv[0].split("/")[1], -task[kv[0]]["bytes"])):
        split = task[art_id].get("split") or {}
        parts = " / ".join(_mb(split.get(k)) for k in ("bytes_embeddings", "bytes_encoder", "bytes_head"))
        subnet, fmt = art_id.split("/")
        method = task[art_id].get("details_method")
        fmt_cell = f"{fmt} ({method})" if method and method != "dynamic" else fmt
        out.append(f"| {subnet} | {fmt_cell} | {_mb(r['full_bytes'])} | {_mb(r['task_bytes'])} | "
                   f"{100 * r['full_metric']:.2f} | {100 * r['task_metric']:.2f} | {100 * r['delta']:+.2f} | {parts} |")
    gated = {vocab: run.get("failed") or [] for vocab, run in runs.items()}
    if any(gated.values()):
        out += ["", "Failed their export gate (not measured, never installed): " + "; ".join(
            f"{vocab}: {', '.join(ids)}" for vocab, ids in gated.items() if ids)]
    missing = sorted((set(full) ^ set(task)) - {i for ids in gated.values() for i in ids})
    if missing:
        out += ["", "Not compared (in one of the two exports only): " + ", ".join(missing)]
    out += ["", "## The bounds", "", "| bound | file | MB | Δ vs the same file unpruned (pts) | met |",
            "|---|---|---|---|---|"]
    smallest = subnet_name(0.25, 0.5)
    small = [r for r in rows.values() if r["id"].startswith(smallest + "/") and r["delta"] >= -MAX_DROP]
    best = min(small, key=lambda r: r["task_bytes"], default=None)
    if best is None:
        out.append(f"| {smallest}'s best file ≤ {SMALLEST_MAX_MB} MB, within {100 * MAX_DROP:.1f} | none within "
                   "the bound | — | — | no |")
    else:
        met = best["task_bytes"] <= SMALLEST_MAX_MB * 1e6
        out.append(f"| {smallest}'s smallest file within {100 * MAX_DROP:.1f} pts ≤ {SMALLEST_MAX_MB} MB | "
                   f"{best['id']} | {_mb(best['task_bytes'])} | {100 * best['delta']:+.2f} | "
                   f"{'yes' if met else 'no'} |")
    full_name = subnet_name(1.0, 1.0)
    for fmt, what in (("onnx-int4ffn", "file ≤ {mb} MB, within {pts} pts (feed-forward weights 4-bit, the rest INT8)"),
                      ("onnx-int8", "INT8 file ≤ {mb} MB, within {pts} pts")):
        row = rows.get(f"{full_name}/{fmt}")
        if row is not None:
            met = row["task_bytes"] <= FULL_INT8_MAX_MB * 1e6 and row["delta"] >= -MAX_DROP
            out.append(f"| full model's {what.format(mb=FULL_INT8_MAX_MB, pts=f'{100 * MAX_DROP:.1f}')} | "
                       f"{row['id']} | {_mb(row['task_bytes'])} | {100 * row['delta']:+.2f} | "
                       f"{'yes' if met else 'no'} |")
    int8 = rows.get(f"{full_name}/onnx-int8")
    if int8 is not None:
        split = task[int8["id"]].get("split") or {}
        if split.get("bytes_encoder"):
            rest = split["bytes_encoder"] + split.get("bytes_head", 0) + split.get("bytes_other", 0)
            out += ["", f"The full model's encoder and head alone take {_mb(rest)} MB at 8 bits: the bound of "
                        f"{FULL_INT8_MAX_MB} MB leaves {_mb(int(FULL_INT8_MAX_MB * 1e6) - rest)} MB for the "
                        f"embeddings, which no vocabulary that keeps every training token reaches at 8 bits "
                        f"({emb['vocab_size']:,} rows take {_mb(split.get('bytes_embeddings'))} MB)."]
    return "\n".join(out) + "\n"


def complete(report: dict, out: Path, ckpt: Path) -> None:
    """Fill what a report written by an older version of this script lacks, from the files themselves: each
    file's byte split (read from the exported file), its INT8 recipe and the files that failed their gate (the
    manifests) and the metric's name (the checkpoint's task)."""
    from dynabert.checkpoint import read_meta
    from dynabert.data import task_of

    meta = read_meta(ckpt)
    metric = task_of(meta.task, is_regression=meta.is_regression, num_labels=len(meta.label_names or []) or 2,
                     label_names=meta.label_names).main_metric
    for vocab, run in report["runs"].items():
        # the typed view: each artifact's path is resolved inside its export folder
        manifest = read_manifest(out / vocab / "manifest.json")
        arts = {a.id: a for a in manifest.artifacts}
        run.setdefault("failed", failed_ids(manifest.raw))
        for art_id, entry in run["files"].items():
            art = arts.get(art_id)
            entry.setdefault("metric_name", metric)
            if "details_method" not in entry and art is not None:
                entry["details_method"] = (art.raw.get("details") or {}).get("method")
            if entry.get("split") is None and art is not None:
                entry["split"] = weight_split(art.path)


def publish(report: dict, doc: Path) -> None:
    write_text_atomic(doc.with_suffix(".md"), render(report))
    write_json_atomic(doc.with_suffix(".json"), report)
    print(f"wrote {doc.with_suffix('.md')} and .json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, type=Path, help="a rewired DynaBERT checkpoint")
    p.add_argument("--out", type=Path, default=Path("out/bench/vocab"), help="output folder")
    p.add_argument("--formats", default="onnx,onnx-int8", help="formats of both exports (default %(default)s)")
    p.add_argument("--max-length", type=int, default=128, help="--max-length of both exports (default %(default)s)")
    p.add_argument("--vocab-corpus", nargs="+", type=Path, default=[], metavar="FILE",
                   help="more text whose tokens the task vocabulary keeps (export.all --vocab-corpus)")
    p.add_argument("--common-words", type=int, metavar="N",
                   help="also keep the pieces of the N most frequent English words (needs wordfreq)")
    p.add_argument("--doc", type=Path, help="also publish the report as DOC.md and DOC.json (e.g. "
                                            "docs/results/sst2-minilm-size)")
    p.add_argument("--render-only", action="store_true",
                   help="only rewrite --doc from <out>/vocab_sizes.json (no export, no evaluation)")
    args = p.parse_args(argv)
    if args.render_only:
        if args.doc is None:
            p.error("--render-only writes --doc: give --doc")
        source = args.out / "vocab_sizes.json"
        if not source.is_file():
            p.error(f"--render-only: {source} does not exist (run without --render-only to measure)")
        report = json.loads(source.read_text())
        complete(report, args.out, args.ckpt)
        write_json_atomic(args.out / "vocab_sizes.json", report)
        publish(report, args.doc)
        return 0
    formats = [f for f in args.formats.split(",") if f]
    command = " ".join(["python benchmarks/vocab_sizes.py", *(sys.argv[1:] if argv is None else argv)])
    report: dict = {"checkpoint": str(args.ckpt), "max_length": args.max_length, "runs": {}, "command": command}
    # Both exports add the 4-bit-table file: each task file is compared with the same format without pruning
    # (the bound), and the 4-bit ones with the full-vocabulary INT8 file too (what they replace).
    fmts = list(dict.fromkeys([*formats, "onnx-int4emb"]))
    corpus = list(args.vocab_corpus)
    if args.common_words is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        corpus.append(common_words_file(args.common_words, args.out))
    report["vocab_corpus"] = [str(c) for c in corpus]
    for vocab in ("full", "task"):
        out = args.out / vocab
        manifest = export(args.ckpt, out, vocab, fmts, args.max_length, corpus if vocab == "task" else None)
        report["runs"][vocab] = {"embeddings": manifest.get("embeddings"), "files": evaluate(out, manifest),
                                 "failed": failed_ids(manifest)}
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
    if args.doc is not None:
        publish(report, args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m device_bench.pick``: the most accurate exported model that fits a latency and size budget.

    python -m device_bench.pick --max-latency-ms 15 --max-mb 30
    python -m device_bench.pick --max-latency-ms 15 --max-mb 30 --min-metric 0.85 --install-into android_demo

Reads a device_bench ``results.json`` (default: the newest under ``out/`` or ``runs/``). A model qualifies
when its p50 latency (its own runtime, or ``--runtime``; ``--threads``, ``--seq-len``) is at most
``--max-latency-ms``, its file is at most ``--max-mb`` (10^6 bytes, on disk) and its dev metric is at
least ``--min-metric`` (a fraction, e.g. 0.9). The best is the highest metric, then the fastest, then
the smallest. It prints the pick, the runners-up and the constraint each better-ranked model missed
(``--explain``: the whole ranking); with no qualifying model it says which constraint ruled each out
and exits 1.

``--install-into DIR`` copies the pick into the Android demo's assets (``DIR/app/src/main/assets/models/
<name>/``: the model as ``model.onnx``/``model.ort``, ``vocab.txt``, ``labels.json``, ``model_card.json``;
see "The assets contract" in ``android_demo/README.md``). The app runs ONNX Runtime, so only ONNX and
ORT files are candidates then.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from dynabert.fileio import atomic_dir, sha256_path

from .adb import APP_FORMATS, folder_name
from .manifest_reader import BenchError
from .runtimes import ACCURACY_RUNTIME

ASSETS = Path("app/src/main/assets/models")


@dataclass
class Candidate:
    artifact: dict
    metric: float | None
    p50_ms: float | None
    runtime: str | None
    mb: float
    why_not: list[str]


def find_results(start: Path = Path(".")) -> Path:
    """The newest ``results.json`` under ``out/`` or ``runs/`` (where export and the benchmarks write)."""
    found = [p for d in ("out", "runs") for p in (start / d).glob("**/results.json") if (start / d).is_dir()]
    found = [p for p in found if _is_results(p)]
    if not found:
        raise BenchError("no device_bench results.json under out/ or runs/; pass --results PATH "
                         "(made by `python -m device_bench --manifest ...`)")
    return max(found, key=lambda p: p.stat().st_mtime)


def _is_results(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("schema", "").startswith("dynabert-edge/device-bench/")
    except (OSError, ValueError, AttributeError):
        return False


def load_results(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(f"{path}: cannot read results: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BenchError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("dynabert-edge/device-bench/"):
        raise BenchError(f"{path}: not a device_bench results.json")
    return data


def candidates(results: dict, *, max_latency_ms: float | None = None, max_mb: float | None = None,
               min_metric: float | None = None, runtime: str | None = None, threads: int = 1,
               seq_len: int | None = None, app_only: bool = False) -> list[Candidate]:
    """Every artifact with the reasons (if any) it misses the constraints; qualifying ones have none."""
    rows = [r for r in results["rows"] if r.get("status") == "ok"]
    if seq_len is None:
        seq_len = max((r["seq_len"] for r in rows), default=None)
    out = []
    for a in results["artifacts"]:
        why: list[str] = []
        if app_only and a["format"] not in APP_FORMATS:
            continue
        if a.get("export_status") == "failed":
            why.append("failed export verification")
        wanted = runtime or ACCURACY_RUNTIME.get(a["runtime"], a["runtime"])
        match = [r for r in rows if r["artifact"] == a["id"] and r["runtime"] == wanted and r["threads"] == threads
                 and r["seq_len"] == seq_len]
        p50 = match[0]["p50_ms"] if match else None
        if max_latency_ms is not None:
            if p50 is None:
                why.append(f"no latency on {wanted}, {threads} thread(s), seq {seq_len}")
            elif p50 > max_latency_ms:
                why.append(f"p50 {p50:.3g} ms > {max_latency_ms:g} ms")
        mb = (a.get("bytes") or 0) / 1e6
        if max_mb is not None and mb > max_mb:
            why.append(f"{mb:.2f} MB > {max_mb:g} MB")
        metric = a.get("metric")
        if min_metric is not None:
            if metric is None:
                why.append("no metric measured")
            elif metric < min_metric:
                why.append(f"{results.get('metric_name', 'metric')} {metric:.4f} < {min_metric:g}")
        out.append(Candidate(a, metric, p50, wanted if p50 is not None else None, mb, why))
    return out


def rank_key(c: Candidate) -> tuple:
    """pick's order: highest metric first (an unmeasured one last), then the fastest, then the smallest."""
    return (-(c.metric if c.metric is not None else float("-inf")),
            c.p50_ms if c.p50_ms is not None else float("inf"), c.mb, c.artifact["id"])


def best(cands: list[Candidate]) -> Candidate | None:
    ok = [c for c in cands if not c.why_not]
    if not ok:
        return None
    return min(ok, key=rank_key)


def explain(cands: list[Candidate], chosen: Candidate, results: dict, whole: bool = False,
            runners_up: int = 3) -> list[str]:
    """Why ``chosen``: the runners-up, and the constraint each better-ranked model missed.

    Models ranked below the chosen one would lose even if they fitted, so by default they are only
    counted; ``whole`` lists every candidate in pick's order with what (if anything) ruled it out.
    """
    ranked = sorted(cands, key=rank_key)
    lines = [f"best: {_describe(chosen, results)}"]
    fits = [c for c in ranked if not c.why_not and c is not chosen]
    for c in fits[:runners_up]:
        lines.append(f"  runner-up: {_describe(c, results)}")
    if whole:
        lines.append(f"ranking ({len(ranked)} candidates; highest {results.get('metric_name', 'metric')}, then "
                     f"fastest, then smallest):")
        for i, c in enumerate(ranked, 1):
            mark = "chosen" if c is chosen else ("fits" if not c.why_not else "rejected: " + "; ".join(c.why_not))
            lines.append(f"  {i:>3}. {_describe(c, results)} -- {mark}")
        return lines
    above = ranked[:ranked.index(chosen)]
    for c in above:  # every model pick would have preferred: it missed a constraint
        lines.append(f"  rejected: {_describe(c, results)} -- {'; '.join(c.why_not)}")
    rest = len(ranked) - len(above) - 1 - min(len(fits), runners_up)
    if rest > 0:
        lines.append(f"  ({rest} more rank lower; --explain lists the whole ranking)")
    return lines


def explain_none(cands: list[Candidate]) -> str:
    if not cands:
        return "no candidate artifacts at all (with --install-into only ONNX/ORT files qualify)"
    lines = [f"no model meets all constraints ({len(cands)} candidates):"]
    for c in sorted(cands, key=lambda c: (len(c.why_not), -(c.metric or 0))):
        lines.append(f"  {c.artifact['id']:<24} {'; '.join(c.why_not)}")
    return "\n".join(lines)


def _describe(c: Candidate, results: dict) -> str:
    metric = "—" if c.metric is None else f"{100 * c.metric:.2f}"
    lat = "—" if c.p50_ms is None else f"{c.p50_ms:.3g} ms ({c.runtime})"
    return (f"{c.artifact['id']} ({c.artifact['format']}, {c.artifact['precision']}): "
            f"{results.get('metric_name', 'metric')} {metric}, p50 {lat}, {c.mb:.2f} MB")


# ---------------------------------------------------------------------------------------------- install


def _manifest_for(results: dict) -> tuple[dict, Path]:
    path = Path(results["manifest"])
    try:
        return json.loads(path.read_text(encoding="utf-8")), path.parent
    except (OSError, ValueError) as exc:
        raise BenchError(f"the export manifest {path} named in the results is not readable: {exc}") from None


def model_card(artifact: dict, results: dict, manifest: dict, root: Path, cand: Candidate, model_file: str) -> dict:
    tok_config: dict = {}
    tok_file = root / manifest["tokenizer"]["dir"] / "tokenizer_config.json"
    if tok_file.is_file():
        tok_config = json.loads(tok_file.read_text(encoding="utf-8"))
    do_lower = manifest["tokenizer"].get("do_lower_case")
    if do_lower is None:
        do_lower = tok_config.get("do_lower_case", True)
    dtypes = set(artifact.get("input_dtypes") or ["int64"])
    card = {
        "name": folder_name(artifact["id"]), "format": "ort" if artifact["format"].startswith("ort") else "onnx",
        "width_mult": artifact["width_mult"], "depth_mult": artifact["depth_mult"],
        "precision": artifact["precision"], "bytes": artifact.get("bytes"),
        "max_length": artifact.get("max_length") or manifest.get("max_length", 128),
        "do_lower_case": bool(do_lower), "strip_accents": tok_config.get("strip_accents"),
        "tokenize_chinese_chars": tok_config.get("tokenize_chinese_chars", True),
        "inputs": artifact.get("input_names"), "input_dtype": "int32" if dtypes == {"int32"} else "int64",
        "output": "logits", "pad_to_max_length": False, "model_file": model_file, "task": results.get("task"),
        "source": {"artifact": artifact["id"], "sha256": artifact.get("sha256"), "manifest": results["manifest"]},
    }
    if cand.metric is not None:
        card["metric"] = {"name": results.get("metric_name", "metric"), "value": round(cand.metric, 6)}
    if cand.p50_ms is not None:
        card["desktop_p50_ms"] = {"value": round(cand.p50_ms, 4), "runtime": cand.runtime}
    return card


def install(cand: Candidate, results: dict, app_dir: Path, replace_others: bool = False) -> Path:
    """Copy the model, vocab, labels and card into ``app_dir``'s assets (atomically, one folder)."""
    artifact = cand.artifact
    if artifact["format"] not in APP_FORMATS:
        raise BenchError(f"{artifact['id']}: the app runs ONNX Runtime; {artifact['format']} cannot be installed")
    if not (app_dir / "app" / "src" / "main").is_dir():
        raise BenchError(f"{app_dir}: not the Android demo (no app/src/main); pass the android_demo folder")
    manifest, root = _manifest_for(results)
    if manifest.get("is_regression") or not manifest.get("label_names"):
        raise BenchError("the demo app shows class labels; this export is a regression model")
    vocab_rel = (manifest.get("tokenizer") or {}).get("vocab")
    if not vocab_rel or not (root / vocab_rel).is_file():
        raise BenchError("the app's tokenizer is WordPiece and needs vocab.txt; this export's tokenizer has none")
    source = Path(artifact["path"])
    if not source.is_file():
        raise BenchError(f"{artifact['id']}: {source} does not exist any more")
    if artifact.get("sha256") and sha256_path(source) != artifact["sha256"]:
        raise BenchError(f"{artifact['id']}: {source} changed since it was benchmarked (sha256 mismatch)")
    model_file = "model.ort" if artifact["format"].startswith("ort") else "model.onnx"
    models = app_dir / ASSETS
    target = models / folder_name(artifact["id"])
    with atomic_dir(target) as tmp:
        shutil.copyfile(source, tmp / model_file)
        shutil.copyfile(root / vocab_rel, tmp / "vocab.txt")
        (tmp / "labels.json").write_text(json.dumps(list(manifest["label_names"])) + "\n", encoding="utf-8")
        card = model_card(artifact, results, manifest, root, cand, model_file)
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if replace_others:
        for other in models.iterdir():
            if other.is_dir() and other != target and not other.name.startswith("."):
                shutil.rmtree(other)
    return target


# ---------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m device_bench.pick", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, help="device_bench results.json (default: the newest under out/, runs/)")
    p.add_argument("--max-latency-ms", type=float, help="p50 latency budget in ms")
    p.add_argument("--max-mb", type=float, help="file size budget in MB (10^6 bytes)")
    p.add_argument("--min-metric", type=float, help="lowest acceptable dev metric, as a fraction (0.9 = 90%%)")
    p.add_argument("--runtime", help="judge latency on this runtime (default: each file's own), e.g. "
                                     "onnxruntime-mobile or android-onnxruntime")
    p.add_argument("--threads", type=int, default=1, help="latency at this thread count (default 1)")
    p.add_argument("--seq-len", type=int, help="latency at this sequence length (default: the longest measured)")
    p.add_argument("--install-into", type=Path, metavar="ANDROID_DEMO",
                   help="copy the pick into ANDROID_DEMO/app/src/main/assets/models/<name>/")
    p.add_argument("--replace", action="store_true", help="with --install-into: remove the other bundled models")
    p.add_argument("--explain", action="store_true",
                   help="list every candidate in ranking order with the constraint each missed (by default: the "
                        "runners-up and the better-ranked models that missed a constraint)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.min_metric is not None and not 0.0 <= args.min_metric <= 1.0:
            raise BenchError(f"--min-metric is a fraction in [0, 1] (0.9 for 90%), got {args.min_metric}")
        path = args.results or find_results()
        results = load_results(path)
        cands = candidates(results, max_latency_ms=args.max_latency_ms, max_mb=args.max_mb,
                           min_metric=args.min_metric, runtime=args.runtime, threads=args.threads,
                           seq_len=args.seq_len, app_only=args.install_into is not None)
        chosen = best(cands)
        print(f"results: {path}")
        if chosen is None:
            print(explain_none(cands))
            return 1
        print("\n".join(explain(cands, chosen, results, whole=args.explain)))
        if args.install_into is not None:
            target = install(chosen, results, args.install_into, args.replace)
            print(f"installed into {target} (rebuild the app)")
    except BenchError as exc:
        print(f"device_bench.pick: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from dynabert.cli_options import Parser, float_in, int_in
from dynabert.fileio import atomic_dir, sha256_path
from dynabert.files.fields import StageFileError
from dynabert.files.results import is_results, read_results
from dynabert.runtimes import own_runtime

from .adb import APP_FORMATS, folder_name
from .manifest_reader import BenchError, Manifest, read_manifest

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
    found = [p for p in found if is_results(p)]
    if not found:
        raise BenchError("no device_bench results.json under out/ or runs/; pass --results PATH "
                         "(made by `python -m device_bench --manifest ...`)")
    return max(found, key=lambda p: p.stat().st_mtime)


def load_results(path: Path) -> dict:
    """Read and check a ``results.json`` (:func:`dynabert.files.results.read_results`) as a :class:`BenchError`."""
    try:
        return read_results(path)
    except StageFileError as exc:
        raise BenchError(str(exc)) from None


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
        wanted = runtime or own_runtime(a["runtime"]) or a["runtime"]
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


def model_card(artifact: dict, results: dict, manifest: Manifest, cand: Candidate, model_file: str) -> dict:
    tok_config: dict = {}
    tok_file = manifest.tokenizer_dir / "tokenizer_config.json"
    if tok_file.is_file():
        try:
            tok_config = json.loads(tok_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BenchError(f"{tok_file}: not a readable tokenizer config: {exc}") from None
        if not isinstance(tok_config, dict):
            raise BenchError(f"{tok_file}: not a tokenizer config (top level is not a JSON object)")
    do_lower = manifest.do_lower_case
    if do_lower is None:
        do_lower = tok_config.get("do_lower_case", True)
    dtypes = set(artifact.get("input_dtypes") or ["int64"])
    card = {
        "name": folder_name(artifact["id"]), "format": "ort" if artifact["format"].startswith("ort") else "onnx",
        "width_mult": artifact["width_mult"], "depth_mult": artifact["depth_mult"],
        "precision": artifact["precision"], "bytes": artifact.get("bytes"),
        "max_length": artifact.get("max_length") or manifest.max_length,
        "do_lower_case": bool(do_lower), "strip_accents": tok_config.get("strip_accents"),
        "tokenize_chinese_chars": tok_config.get("tokenize_chinese_chars", True),
        "inputs": artifact.get("input_names"), "input_dtype": "int32" if dtypes == {"int32"} else "int64",
        "output": "logits", "pad_to_max_length": False, "model_file": model_file, "task": results.get("task"),
        "source": {"artifact": artifact["id"], "sha256": artifact.get("sha256"), "manifest": results["manifest"]},
    }
    card.update(task_shape(results, manifest))
    if cand.metric is not None:
        card["metric"] = {"name": results.get("metric_name", "metric"), "value": round(cand.metric, 6)}
    if cand.p50_ms is not None:
        card["desktop_p50_ms"] = {"value": round(cand.p50_ms, 4), "runtime": cand.runtime}
    return card


def ort_card_settings(settings: dict) -> dict:
    """The card's ``onnxruntime`` record: the session settings export measured for the file (manifest
    ``session_settings``), as the level and config entries the app sets (ModelCard.ortConfigEntries)."""
    if not settings:
        return {}
    from dynabert.ort_settings import SettingsError, config_entries, validate

    try:
        settings = validate(dict(settings))
    except SettingsError as exc:
        raise BenchError(f"the manifest's session_settings: {exc}") from None
    return {"onnxruntime": {"graph_optimization_level": settings["graph_optimization_level"],
                            "config_entries": config_entries(settings)}}


def task_shape(results: dict, manifest: Manifest) -> dict:
    """The card's ``pair`` / ``regression`` / ``score_range``: what the app's screen adapts to.

    A GLUE task says it itself (and STS-B's 0-5 scale); for a custom task, pairs are read off the dev set
    device_bench evaluated (``results["dev"]["pair"]``).
    """
    from .accuracy import task_spec

    spec = task_spec(manifest)
    dev = results.get("dev") if isinstance(results.get("dev"), dict) else {}
    shape = {"pair": bool(spec.is_pair or dev.get("pair") is True), "regression": bool(manifest.is_regression)}
    if manifest.is_regression and spec.label_range is not None:
        shape["score_range"] = [float(spec.label_range[0]), float(spec.label_range[1])]
    return shape


def card_labels(manifest: Manifest) -> list[str]:
    """labels.json: one name per model output; a regression model's one output is its score."""
    return ["score"] if manifest.is_regression else list(manifest.label_names or [])


#: An assets folder name: what ``folder_name`` makes of an export id (``w0.5_d0.5_ort-int8``), nothing that
#: could climb out of ``models/`` or hide (``..``, ``.x``, ``a/b``).
_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def output_size(path: Path) -> int:
    """The number of logits the model file outputs (its graph's last output dimension), read by ONNX Runtime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        outputs = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).get_outputs()
    except Exception as exc:  # ORT raises its own exception types for a broken or foreign file
        raise BenchError(f"{path.name}: ONNX Runtime cannot load it: {str(exc).splitlines()[0][:200]}") from None
    logits = next((o for o in outputs if o.name == "logits"), outputs[0] if outputs else None)
    size = logits.shape[-1] if logits is not None and logits.shape else None
    if not isinstance(size, int):
        raise BenchError(f"{path.name}: cannot read the number of outputs from the graph (shape "
                         f"{None if logits is None else logits.shape})")
    return size


def _app_labels(manifest: Manifest) -> list[str]:
    """labels.json for the app, after checking the export has what the app needs (label names, vocab.txt)."""
    labels = card_labels(manifest)
    if not labels:
        raise BenchError(f"{manifest.path}: a classifier export with no label_names: the app cannot name its "
                         "classes")
    if manifest.vocab is None or not manifest.vocab.is_file():
        raise BenchError("the app's tokenizer is WordPiece and needs vocab.txt; this export's tokenizer has none")
    return labels


def _remove_others(models: Path, keep: Path) -> None:
    """--replace: the other installed model folders go (hidden ones and symlinks are left alone)."""
    for other in models.iterdir():
        if other.is_dir() and not other.is_symlink() and other != keep and not other.name.startswith("."):
            shutil.rmtree(other)


def _check_app_runtime(paths: list[Path], what: str) -> None:
    """Refuse what the app's (older) ONNX Runtime cannot load; say so when that runtime is not here to ask."""
    from . import app_runtime

    if not app_runtime.available():
        print(f"note: not checked against the app's ONNX Runtime {app_runtime.APP_ORT_VERSION} (not cached at "
              f"{app_runtime.APP_ORT_PYTHON}: bash android_demo/ci/install_toolchain.sh)", file=sys.stderr)
        return
    error = app_runtime.load_error(paths)
    if error is not None:
        raise BenchError(f"{what}: {error}; nothing installed")


def install(cand: Candidate, results: dict, app_dir: Path, replace_others: bool = False) -> Path:
    """Copy the model, vocab, labels and card into ``app_dir``'s assets (atomically, one folder).

    Nothing is written until everything is checked: the file is the one the export manifest lists (inside
    the manifest's folder, the results' path is not trusted), its SHA-256 matches both the manifest and
    the results, and the graph has one output per label. The copy is hashed again, so what lands in the
    app is what was checked.
    """
    artifact = cand.artifact
    art_id = artifact["id"]
    if artifact["format"] not in APP_FORMATS:
        raise BenchError(f"{art_id}: the app runs ONNX Runtime; {artifact['format']} cannot be installed")
    if not (app_dir / "app" / "src" / "main").is_dir():
        raise BenchError(f"{app_dir}: not the Android demo (no app/src/main); pass the android_demo folder")
    name = folder_name(art_id)
    if not _FOLDER.fullmatch(name):
        raise BenchError(f"{art_id}: not a usable assets folder name ({name!r}); the artifact id is malformed")
    manifest = read_manifest(results["manifest"], verify_files=False, include_failed=True)
    listed = next((a for a in manifest.artifacts if a.id == art_id), None)
    if listed is None:
        raise BenchError(f"{art_id}: not a usable artifact of {manifest.path} (named in the results)")
    labels = _app_labels(manifest)
    expected = artifact.get("sha256") or ""
    if not expected or not listed.sha256:
        raise BenchError(f"{art_id}: no sha256 recorded ({'results' if not expected else 'manifest'}): "
                         f"refusing to install a file that cannot be checked")
    if expected != listed.sha256:
        raise BenchError(f"{art_id}: the results and {manifest.path} disagree on its sha256: re-run device_bench")
    if not listed.path.is_file():
        raise BenchError(f"{art_id}: {listed.path} is not a file")
    model_file = "model.ort" if artifact["format"].startswith("ort") else "model.onnx"
    models = app_dir / ASSETS
    target = models / name
    with atomic_dir(target) as tmp:
        shutil.copyfile(listed.path, tmp / model_file)
        if sha256_path(tmp / model_file) != expected:
            raise BenchError(f"{art_id}: {listed.path} changed since it was exported and benchmarked "
                             f"(sha256 mismatch); nothing installed")
        _check_app_runtime([tmp / model_file], art_id)
        outputs = output_size(tmp / model_file)
        if outputs != len(labels):
            what = ("a regression model has one" if manifest.is_regression
                    else f"the export lists {len(labels)} labels {labels}")
            raise BenchError(f"{art_id}: the model has {outputs} outputs but {what}; nothing installed")
        shutil.copyfile(manifest.vocab, tmp / "vocab.txt")
        (tmp / "labels.json").write_text(json.dumps(labels) + "\n", encoding="utf-8")
        card = model_card(artifact, results, manifest, cand, model_file)
        card.update(ort_card_settings(listed.session_settings))
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if replace_others:
        _remove_others(models, target)
    return target


def install_bundle(precision: str, results: dict, app_dir: Path, replace_others: bool = False) -> Path:
    """Copy the export's shared-weight bundle of ``precision`` (all sub-networks, one weights file), vocab,
    labels and a card naming the bundle into ``app_dir``'s assets (atomically, one folder).

    Checked first, as for a single model: the bundle is the one the export manifest lists, verified, with the
    folder checksum the manifest records; its ``bundle.json`` is read with the same checks the app makes
    (every file's size and SHA-256); the graphs have one output per label. The copy is checked again.
    """
    from types import SimpleNamespace

    from export.bundle_index import FOLDER, INDEX_FILE, BundleError, read_index

    if not (app_dir / "app" / "src" / "main").is_dir():
        raise BenchError(f"{app_dir}: not the Android demo (no app/src/main); pass the android_demo folder")
    manifest = read_manifest(results["manifest"], verify_files=False, include_failed=True)
    bundle = next((b for b in manifest.bundles if b.precision == precision), None)
    if bundle is None:
        have = ", ".join(b.format for b in manifest.bundles) or "none"
        raise BenchError(f"{manifest.path}: no {precision} bundle (bundles: {have}); export with "
                         f"--formats {'onnx-int8-bundle' if precision == 'int8' else 'onnx-bundle'}")
    if bundle.status != "passed":
        raise BenchError(f"{bundle.format}: export marked it {bundle.status}; refusing to install it")
    if not bundle.path.is_dir() or sha256_path(bundle.path) != bundle.sha256:
        raise BenchError(f"{bundle.format}: {bundle.path} changed since it was exported (sha256 mismatch)")
    labels = _app_labels(manifest)
    folder = FOLDER[precision]
    name = f"bundle_{precision}"
    models = app_dir / ASSETS
    target = models / name
    with atomic_dir(target) as tmp:
        shutil.copytree(bundle.path, tmp / folder)
        try:
            index = read_index(tmp / folder, verify_files=True)
        except BundleError as exc:
            raise BenchError(f"{bundle.format}: {exc}; nothing installed") from None
        if sha256_path(tmp / folder) != bundle.sha256:
            raise BenchError(f"{bundle.format}: the copy differs from {bundle.path}; nothing installed")
        largest = index.entries[0]
        _check_app_runtime([tmp / folder / e.graph for e in index.entries], bundle.format)
        outputs = output_size(tmp / folder / largest.graph)
        if outputs != len(labels):
            raise BenchError(f"{bundle.format}: the graphs have {outputs} outputs but the export lists "
                             f"{len(labels)} labels; nothing installed")
        shutil.copyfile(manifest.vocab, tmp / "vocab.txt")
        (tmp / "labels.json").write_text(json.dumps(labels) + "\n", encoding="utf-8")
        artifact = {"id": name, "format": "onnx", "width_mult": largest.width_mult,
                    "depth_mult": largest.depth_mult, "precision": precision, "bytes": bundle.bytes,
                    "max_length": index.max_length, "input_names": list(index.inputs), "sha256": bundle.sha256}
        card = model_card(artifact, results, manifest, SimpleNamespace(metric=None, p50_ms=None),
                          f"{folder}/{largest.graph}")
        card["bundle"] = f"{folder}/{INDEX_FILE}"
        card["source"] = {"bundle": bundle.format, "sha256": bundle.sha256, "manifest": results["manifest"]}
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if replace_others:
        _remove_others(models, target)
    return target


# ---------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m device_bench.pick", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, help="device_bench results.json (default: the newest under out/, runs/)")
    p.add_argument("--max-latency-ms", type=float_in(0, low_open=True), help="p50 latency budget in ms (> 0)")
    p.add_argument("--max-mb", type=float_in(0, low_open=True), help="file size budget in MB (10^6 bytes, > 0)")
    p.add_argument("--min-metric", type=float_in(-1, 1),
                   help="lowest acceptable dev metric, in the task's own metric as a fraction (0.9 = 90%%); "
                        "accuracy and F1 run from 0 to 1, Matthews and Pearson/Spearman correlations from -1")
    p.add_argument("--runtime", help="judge latency on this runtime (default: each file's own), e.g. "
                                     "onnxruntime-mobile or android-onnxruntime")
    p.add_argument("--threads", type=int_in(1, 1024), default=1, help="latency at this thread count (default 1)")
    p.add_argument("--seq-len", type=int_in(1), help="latency at this sequence length (default: the longest measured)")
    p.add_argument("--install-into", type=Path, metavar="ANDROID_DEMO",
                   help="copy the pick into ANDROID_DEMO/app/src/main/assets/models/<name>/")
    p.add_argument("--bundle", nargs="?", const="int8", choices=("int8", "fp32"),
                   help="with --install-into: install the export's shared-weight bundle (default int8: every "
                        "sub-network from one weights file; the app switches between them live) instead of "
                        "one picked file")
    p.add_argument("--replace", action="store_true", help="with --install-into: remove the other bundled models")
    p.add_argument("--explain", action="store_true",
                   help="list every candidate in ranking order with the constraint each missed (by default: the "
                        "runners-up and the better-ranked models that missed a constraint)")
    return p


def _check_measured(results: dict, runtime: str | None, seq_len: int | None) -> None:
    """A --runtime or --seq-len the results never measured is a typo to report, not a reason on every row."""
    rows = [r for r in results["rows"] if r["status"] == "ok"]
    runtimes_seen = sorted({r["runtime"] for r in rows})
    if runtime is not None and runtime not in runtimes_seen:
        raise BenchError(f"--runtime {runtime}: no latency measured on it in the results (measured: "
                         f"{', '.join(runtimes_seen) or 'none'})")
    lengths = sorted({r["seq_len"] for r in rows})
    if seq_len is not None and seq_len not in lengths:
        raise BenchError(f"--seq-len {seq_len}: no latency measured at that length in the results (measured: "
                         f"{', '.join(map(str, lengths)) or 'none'})")


def _check_min_metric(results: dict, min_metric: float | None) -> None:
    """``--min-metric`` must lie in the range of the results' own metric (a negative accuracy is a typo)."""
    from dynabert.data.tasks import METRIC_RANGES

    name = results.get("metric_name")
    low, high = METRIC_RANGES.get(name, (-1.0, 1.0))
    if min_metric is not None and not low <= min_metric <= high:
        raise BenchError(f"--min-metric must be a number from {low:g} to {high:g} for the results' metric ({name}), "
                         f"got '{min_metric:g}'")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a bad option (one line already printed) or --help: an exit code, as documented
        return int(exc.code or 0)
    try:
        path = args.results or find_results()
        results = load_results(path)
        if args.bundle is not None:
            if args.install_into is None:
                raise BenchError("--bundle installs into the app: give --install-into ANDROID_DEMO")
            target = install_bundle(args.bundle, results, args.install_into, args.replace)
            print(f"installed the {args.bundle} bundle into {target} (rebuild the app)")
            return 0
        _check_measured(results, args.runtime, args.seq_len)
        _check_min_metric(results, args.min_metric)
        cands = candidates(results, max_latency_ms=args.max_latency_ms, max_mb=args.max_mb,
                           min_metric=args.min_metric, runtime=args.runtime, threads=args.threads,
                           seq_len=args.seq_len, app_only=args.install_into is not None)
        chosen = best(cands)
        print(f"results: {path}")
        dev = results.get("dev") or {}
        if dev.get("sampling"):
            print(f"note: metrics are over a sample of {dev.get('examples')} of {dev.get('total_examples')} dev "
                  f"examples ({dev['sampling']}), not the whole dev set")
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
    except OSError as exc:  # e.g. the app folder is read-only or the disk is full: nothing was swapped in
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"device_bench.pick: error: {where}{exc.strerror or exc}; nothing installed", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        command = shlex.join(["python", "-m", "device_bench.pick", *(sys.argv[1:] if argv is None else argv)])
        print(f"device_bench.pick: interrupted; nothing was half-installed (the model folder is swapped in whole). "
              f"Re-run with: {command}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

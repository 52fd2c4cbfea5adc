"""``python -m export.all --ckpt CKPT``: every sub-model of a rewired DynaBERT in every deployment format.

Writes one folder per sub-model (``w0.25_d0.5/`` ...) under ``--out``, each artifact verified against the
PyTorch sub-network on real dev inputs, and ``manifest.json`` describing all of it (schema in
:mod:`dynabert.files.manifest`). Re-running resumes: artifacts whose inputs and checksum match are skipped.

Exit codes: 0 all verified (or ``--allow-failures``), 1 some artifact failed verification, 2 a usage
problem (bad checkpoint, bad option, unknown format, missing tool, no data, an output folder that cannot
be written or a disk that fills up), 130 interrupted (Ctrl-C). Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dynabert.cli_options import Parser, int_in, non_empty

from .formats import CHAINS, FORMATS, ExportError, resolve_formats
from .manifest import SubnetRecord
from .quiet import quiet_process
from .vocab import VOCAB_MODES

if TYPE_CHECKING:
    from dynabert.data import TaskSpec

DEFAULT_N_VERIFY = 64
#: INT8/fp16 files: enough inputs that a 0.98 agreement gate tells 99% from 95% (see verify.MIN_ARGMAX_AGREEMENT).
DEFAULT_N_VERIFY_INT8 = 500
DEFAULT_N_CALIB = 64
_AT_LEAST_ONE = int_in(1)


def _multipliers(text: str) -> list[float]:
    """A width/depth list: numbers in (0, 1], at least one, no repeats (NaN and inf fail the range)."""
    items = [x.strip() for x in text.split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in (0, 1], got {text!r}")
    values = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not a number (in {text!r})") from None
        if not 0.0 < value <= 1.0:  # False for NaN too
            raise argparse.ArgumentTypeError(f"{item!r} is not in (0, 1]")
        if value in values:
            raise argparse.ArgumentTypeError(f"{item!r} is given twice")
        values.append(value)
    return values


def _names(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated format names, got {text!r}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(prog="python -m export.all", description=__doc__.split("\n\n")[0], error_name="export.all")
    p.add_argument("--ckpt", required=True, type=non_empty,
                   help="a rewired DynaBERT checkpoint directory (train.width/train.depth)")
    p.add_argument("--out", type=non_empty, help="output folder (default: out/export/<checkpoint name>)")
    p.add_argument("--widths", type=_multipliers, help="comma-separated width multipliers (default: all trained)")
    p.add_argument("--depths", type=_multipliers, help="comma-separated depth multipliers (default: all trained)")
    p.add_argument("--formats", type=_names,
                   help=f"comma-separated formats: {', '.join(FORMATS)} (default: all whose tool is installed, "
                        f"except the opt-in ones: {', '.join(n for n, f in FORMATS.items() if not f.default)}); "
                        "and the shared-weight "
                        "bundles onnx-bundle, onnx-int8-bundle (opt-in: one weights file + one small graph per "
                        "sub-network, see export.bundle; they need the full sub-network w1_d1)")
    p.add_argument("--max-length", type=_AT_LEAST_ONE,
                   help="longest input (tokens) the exported files accept; Core ML and .pte fix this bound "
                        "(default: the checkpoint's training max_length; at most the position table's size)")
    p.add_argument("--vocab", choices=VOCAB_MODES, default="full",
                   help="full: the checkpoint's vocabulary; task: only the tokens of the training data and "
                        "--vocab-corpus, plus special tokens and every single character, with the embedding "
                        "rows cut to match (training sentences tokenize exactly as before; other words are "
                        "spelled in smaller pieces). Default %(default)s")
    p.add_argument("--vocab-corpus", nargs="+", metavar="FILE", default=[],
                   help="with --vocab task: more text whose tokens are kept (plain text, one per line, or a "
                        ".csv/.tsv with a header naming text/sentence columns)")
    p.add_argument("--data-dir", type=non_empty,
                   help="GLUE directory or the task's folder for verification/calibration inputs "
                        "(default: the data_dir the checkpoint records)")
    p.add_argument("--n-verify", type=_AT_LEAST_ONE, default=DEFAULT_N_VERIFY,
                   help="dev examples each fp32 file is checked on (logits within 1e-3, same argmax)")
    p.add_argument("--n-verify-int8", type=_AT_LEAST_ONE, default=DEFAULT_N_VERIFY_INT8,
                   help="dev examples each reduced-precision (INT8, fp16) file is checked on: argmax agreement "
                        ">= 0.98 (default %(default)s, or the whole dev set if smaller)")
    p.add_argument("--n-calib", type=_AT_LEAST_ONE, default=DEFAULT_N_CALIB,
                   help="train examples for static INT8 calibration; the .pte/.tflite INT8 fallback ranks encoder "
                        "layers on up to 64 of them (labels unused) (default %(default)s)")
    p.add_argument("--jobs", type=_AT_LEAST_ONE, default=max(1, min(4, os.cpu_count() or 1)),
                   help="worker processes (default: CPU cores, at most 4)")
    p.add_argument("--force", action="store_true", help="redo every artifact, even those that are up to date")
    p.add_argument("--allow-failures", action="store_true", help="exit 0 even if some artifact fails verification")
    p.add_argument("--no-bench", action="store_true", help="do not run device_bench afterwards")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------- main


def _code_sha() -> str:
    """Checksum of the code that shapes the artifacts: a change re-exports instead of trusting old files."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    core = here.parent / "dynabert"
    for path in sorted([*here.glob("*.py"), *core.glob("*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _select(requested: list[float] | None, trained: list[float], what: str) -> list[float]:
    if requested is None:
        return list(trained)
    unknown = [x for x in requested if not any(abs(x - t) < 1e-9 for t in trained)]
    if unknown:
        raise ExportError(f"--{what}s {unknown} not trained in this checkpoint; it has {what}s {list(trained)}")
    return [t for t in trained if any(abs(x - t) < 1e-9 for x in requested)]


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed as one line: an exit code, as below
        return exc.code if isinstance(exc.code, int) else 2
    quiet_process()
    try:
        return _export(args)
    except ExportError as exc:
        print(f"export.all: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("export.all: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, a folder made read-only mid-run: what was finished is kept
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"export.all: error: {where}{exc.strerror or exc}; fix that and run the same command again to "
              "resume", file=sys.stderr)
        return 2
    except BrokenProcessPool:
        print("export.all: error: a worker process died (out of memory?); run the same command again to resume, "
              "or with --jobs 1", file=sys.stderr)
        return 1


@dataclass
class _Setup:
    """What one run works from: the checkpoint, the selection, the inputs, the output folder."""

    ckpt: Path
    model: object  # AdaptiveModel
    tokenizer: object
    meta: object  # CheckpointMeta
    formats: list[str]
    pairs: list[tuple[float, float]]
    names: list[str]
    max_length: int
    data: str  # where the dev examples come from
    inputs: object  # export.inputs.Inputs: what fp32 files are checked on
    approx_inputs: object  # what reduced-precision files are checked on (more of them)
    calibration: object | None
    root: Path
    #: the manifest's "embeddings" record: vocabulary and position table the files were cut to
    embeddings: dict | None = None
    #: the manifest's "data_source" record (dynabert.files.data_source): where the dev set is
    data_source: dict | None = None
    #: the shared-weight bundle formats asked for (export.bundle_index.FORMATS), built after the sub-models
    bundles: list[str] = field(default_factory=list)
    #: the task the verification labels are scored with (dynabert.data.TaskSpec)
    task: TaskSpec | None = None


def _prepare(args: argparse.Namespace, formats: list[str]) -> _Setup:
    """Load and check everything a run needs before writing anything; user errors raise ExportError."""
    from dynabert.checkpoint import CheckpointError, load_checkpoint
    from dynabert.data import task_of
    from dynabert.fileio import inside

    from .inputs import load_calibration, load_inputs, model_input_names, resolve_data
    from .pipeline import FP32_LAYER_FALLBACK

    ckpt = Path(args.ckpt).expanduser().resolve()
    root = Path(args.out).expanduser().resolve() if args.out else Path("out/export", ckpt.name).resolve()
    _check_out(root)  # before the slow loading: a folder that cannot be written fails in a second
    if inside(ckpt, root):
        # The exported files would change the checkpoint's checksum, an input of every artifact: nothing
        # would ever resume, and the checkpoint would no longer be what was trained.
        raise ExportError(f"--out {root} is inside the checkpoint {ckpt}; give a folder outside it")
    try:
        model, tokenizer, meta = load_checkpoint(ckpt, require_rewired=True)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    model.eval()
    widths = _select(args.widths, meta.width_mults, "width")
    depths = _select(args.depths, meta.depth_mults, "depth")
    config = model.config
    # RoBERTa's positions start after the padding index, so two fewer fit.
    positions = config.max_position_embeddings - (2 if config.model_type == "roberta" else 0)
    if args.max_length is not None and not 1 <= args.max_length <= positions:
        raise ExportError(f"--max-length must be between 1 and {positions} (the model's position table), "
                          f"got {args.max_length}")
    max_length = min(args.max_length or meta.max_length, positions)
    names = model_input_names(tokenizer, config.model_type)
    source = resolve_data(args.data_dir, meta.task, meta.label_names, meta.extra or {}, ckpt=ckpt, recorded=meta.data)
    # Before any input is tokenized: the inputs and every file use the cut tables and their tokenizer.
    tokenizer, embeddings = _cut_embeddings(args, model, tokenizer, source, max_length)
    inputs = load_inputs(source, tokenizer, names, args.n_verify, max_length)
    # Loaded even when no reduced-precision format is asked for (it is cheap): the manifest's verification
    # record then describes the artifacts that an earlier run made and this one keeps.
    approx_inputs = load_inputs(source, tokenizer, names, args.n_verify_int8, max_length)
    calibration = None
    if any(FORMATS[f].precision == "int8-static" for f in formats):
        calibration = load_calibration(source, tokenizer, names, args.n_calib, max_length)
    elif any(f in FP32_LAYER_FALLBACK for f in formats):
        # What the fp32-layer fallback ranks layers on, if the data has a training split; else it ranks on
        # the verification inputs (their labels unused: export.mixed_precision).
        try:
            calibration = load_calibration(source, tokenizer, names, args.n_calib, max_length)
        except ExportError:
            calibration = None
    _check_out_children(root, [model.spec(w, d).name for w in widths for d in depths])
    task = task_of(meta.task, is_regression=meta.is_regression, num_labels=config.num_labels,
                   label_names=meta.label_names)
    return _Setup(ckpt, model, tokenizer, meta, formats, [(w, d) for w in widths for d in depths], names,
                  max_length, source.where, inputs, approx_inputs, calibration, root, embeddings,
                  source.record(meta.data).to_record(), task=task)


def _cut_embeddings(args: argparse.Namespace, model, tokenizer, source, max_length: int) -> tuple[object, dict]:
    """Cut the position table to ``max_length`` and, with ``--vocab task``, the vocabulary (export.vocab)."""
    from dynabert.stats import model_stats

    from . import vocab as V
    from .embeddings import cut_positions, keep_word_rows, position_rows
    from .inputs import read_examples

    if args.vocab_corpus and args.vocab != "task":
        raise ExportError("--vocab-corpus adds text to a task vocabulary; it needs --vocab task")
    full_size = len(tokenizer)
    # Parameters of the checkpoint as trained: what "not the full model" in the weights check refers to.
    record: dict = {"checkpoint_params": model_stats(model.config, 128).params_total, "vocab": args.vocab,
                    "vocab_size": full_size, "full_vocab_size": full_size,
                    "vocab_sha256": V.vocab_sha256(tokenizer)}
    if args.vocab == "task":
        V.check_wordpiece(tokenizer)
        corpora = [(f"--vocab-corpus {path}", V.read_corpus(path)) for path in args.vocab_corpus]
        train = read_examples(source, "train")
        texts = [t for ex in train for t in (ex.text, ex.text_pair) if t]
        where = (source.files or {}).get("train") or source.glue_dir
        chosen = V.select(tokenizer, [(f"{source.task} train ({where})", texts), *corpora],
                          progress=not args.no_progress)
        pruned = V.pruned_tokenizer(tokenizer, chosen.kept)
        keep_word_rows(model.hf, chosen.kept, pruned.pad_token_id)
        dev = [t for ex in read_examples(source, "dev") for t in (ex.text, ex.text_pair) if t]
        changes = V.tokenization_changes(tokenizer, pruned, dev)
        record.update(vocab_size=chosen.size, vocab_sha256=V.vocab_sha256(pruned), sources=chosen.sources,
                      dev_tokenization=changes)
        print(f"export.all: task vocabulary: {chosen.size:,} of {full_size:,} tokens; on the dev set "
              f"{changes['changed_tokens_share']:.2%} of tokens and {changes['changed_texts_share']:.2%} of texts "
              "tokenize differently", file=sys.stderr)
        tokenizer = pruned
    rows = position_rows(model.config, max_length)
    record["full_position_rows"] = model.config.max_position_embeddings
    cut_positions(model.hf, rows)
    record["position_rows"] = rows
    return tokenizer, record


_PROBE = "write-test"


def _check_out(root: Path) -> None:
    """Refuse an output folder that is a file, lies under a file, or cannot be written, writing nothing."""
    existing = next(p for p in (root, *root.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        where = "is a file" if existing == root else f"lies under {existing}, which is a file"
        raise ExportError(f"--out {root} {where}; give a folder")
    try:  # the one sure test (read-only mounts, ACLs, root's bypass of mode bits): create a file and remove it
        fd, probe = tempfile.mkstemp(prefix=f".{_PROBE}.", suffix=".tmp", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ExportError(f"--out {root}: cannot write in {existing}: {exc.strerror or exc}") from None


def _check_out_children(root: Path, subnets: list[str]) -> None:
    """What this run will write into must not exist as the wrong kind (a file where a folder goes)."""
    from .manifest import MANIFEST_NAME

    for name in ["tokenizer", *subnets]:
        if (root / name).exists() and not (root / name).is_dir():
            raise ExportError(f"--out {root}: {name} is a file where the export writes a folder; move it away")
    if (root / MANIFEST_NAME).exists() and not (root / MANIFEST_NAME).is_file():
        raise ExportError(f"--out {root}: {MANIFEST_NAME} is not a file; move it away")


def _new_manifest(s: _Setup, base: dict, base_sha: str, previous: dict | None) -> dict:
    from . import manifest as M
    from .verify import FP32_ATOL, MAX_METRIC_DROP, MIN_ARGMAX_AGREEMENT

    tok_dir = s.root / "tokenizer"
    pad_id = s.tokenizer.pad_token_id if s.tokenizer.pad_token_id is not None else 0
    return {
        "schema_version": M.SCHEMA_VERSION, "generator": "export.all",
        "created": (previous or {}).get("created") or M.now(), "updated": None, "complete": False,
        "checkpoint": {"path": str(s.ckpt), "sha256": base["checkpoint_sha256"], "stage": s.meta.stage,
                       "backbone": s.meta.backbone, "model_type": s.model.config.model_type},
        "task": s.meta.task, "label_names": s.meta.label_names, "num_labels": s.model.config.num_labels,
        "is_regression": s.meta.is_regression, "max_length": s.max_length, "embeddings": s.embeddings,
        "tokenizer": {"dir": "tokenizer", "vocab": "tokenizer/vocab.txt" if (tok_dir / "vocab.txt").is_file() else None,
                      "files": sorted(f"tokenizer/{p.name}" for p in tok_dir.iterdir()),
                      "pad_token_id": pad_id, "do_lower_case": getattr(s.tokenizer, "do_lower_case", None)},
        "labels": "tokenizer/labels.json",
        "verification": {"split": s.inputs.split, "data": s.data, "n": len(s.inputs),
                         "lengths": [min(s.inputs.lengths), max(s.inputs.lengths)], "sources": s.inputs.sources,
                         "inputs_sha256": base["inputs_sha256"], "fp32_atol": FP32_ATOL,
                         "min_argmax_agreement": MIN_ARGMAX_AGREEMENT, "max_metric_drop": MAX_METRIC_DROP,
                         **_approx_record(s.approx_inputs)},
        "data_source": s.data_source, "tools": base["tools"], "formats": s.formats, "base_sha256": base_sha,
        "subnets": [], "ort_required_operators_config": None, "artifacts": [], "summary": {},
    }


def _subnet_record(model, w: float, d: float) -> SubnetRecord:
    from dynabert.slicing import sliced_config
    from dynabert.stats import size_facts

    spec = model.spec(w, d)
    facts = size_facts(sliced_config(model.config, spec), (128,))
    return {"name": spec.name, "dir": spec.name, "width_mult": w, "depth_mult": d, "num_heads": spec.num_heads,
            "head_size": spec.head_size, "intermediate_size": spec.intermediate_size, "layers": list(spec.layers),
            "params": facts["params"], "flops_seq128": facts["flops"][128]}


def _approx_record(inputs) -> dict:
    return {"n_approx": len(inputs), "approx_lengths": [min(inputs.lengths), max(inputs.lengths)],
            "approx_sources": inputs.sources, "approx_inputs_sha256": inputs.fingerprint()}


def _reference(s: _Setup, inputs, w: float, d: float):
    """The PyTorch sub-network's logits on ``inputs``: what every file is compared with."""
    import numpy as np
    import torch

    with torch.no_grad():
        return np.concatenate([
            s.model(*(torch.from_numpy(f[n]) for n in s.names), width_mult=w, depth_mult=d).logits.numpy()
            for f in inputs.features])


def _export(args: argparse.Namespace) -> int:
    from .bundle_index import FORMATS as BUNDLE_FORMATS

    requested = args.formats
    bundles = [f for f in (requested or []) if f in BUNDLE_FORMATS]
    if requested is not None:
        requested = [f for f in requested if f not in BUNDLE_FORMATS] or (["hf"] if bundles else [])
    formats, notes = resolve_formats(requested)
    t0 = time.perf_counter()
    s = _prepare(args, formats)
    s.bundles = bundles
    if bundles and (1.0, 1.0) not in s.pairs:
        raise ExportError(f"{', '.join(bundles)}: a bundle is cut from the full sub-network w1_d1; "
                          "include width 1 and depth 1 in --widths/--depths")
    s.root.mkdir(parents=True, exist_ok=True)
    _remove_temps(s.root)
    try:
        return _run(args, s, notes, t0)
    except KeyboardInterrupt:
        # The workers are stopped by now; what they had half-written is under temporary names, never trusted.
        _remove_temps(s.root)
        raise


#: The folders export.all writes into: sub-models are named by dynabert.arch.subnet_name (w0.25_d0.5).
_SUBNET_DIR = re.compile(r"w[0-9.e+-]+_d[0-9.e+-]+")


def _remove_temps(root: Path) -> None:
    """Remove what an interrupted run left under temporary names, only where export.all writes: ``--out``
    may be a folder that holds other programs' files (a home directory), and their ``.x.tmp`` are theirs."""
    from dynabert.fileio import remove_stale_temps

    from .manifest import MANIFEST_NAME
    from .ort_format import CONFIG_NAME

    remove_stale_temps(root, recursive=False, finals=["tokenizer", MANIFEST_NAME, CONFIG_NAME, _PROBE])
    for folder in root.iterdir():
        if folder.is_dir() and not folder.is_symlink() and _SUBNET_DIR.fullmatch(folder.name):
            remove_stale_temps(folder, recursive=False)


class _Collector:
    """The manifest as the run fills it: each finished artifact is recorded, reported and written at once, so
    an interrupted run resumes from everything finished before it."""

    def __init__(self, path: Path, manifest: dict, results: dict[str, dict], bar) -> None:
        self.path, self.manifest, self.results, self.bar = path, manifest, results, bar

    def add(self, records: list[dict]) -> None:
        from tqdm.auto import tqdm

        for record in records:
            self.results[record["id"]] = record
            if record["status"] == "failed":
                tqdm.write(f"FAILED {record['id']}: {'; '.join(record['errors']) or 'see manifest'}", file=sys.stderr)
        self.bar.update(len(records))
        if records:
            self.bar.set_postfix_str(f"done {records[-1]['id']}")
        self.flush()

    def flush(self) -> None:
        from . import manifest as M

        self.manifest["artifacts"] = sorted(self.results.values(), key=_order_key(self.manifest))
        M.save(self.path, self.manifest)


def _base_fingerprint(s: _Setup) -> tuple[dict, str]:
    """Everything an artifact's bytes depend on besides its own format and sub-model (see pipeline.fingerprint)."""
    from dynabert.fileio import sha256_path

    from . import manifest as M
    from .formats import tool_versions

    base = {"schema": M.SCHEMA_VERSION, "checkpoint_sha256": sha256_path(s.ckpt), "tools": tool_versions(),
            "code": _code_sha(), "inputs_sha256": s.inputs.fingerprint(),
            "approx_inputs_sha256": s.approx_inputs.fingerprint(), "names": s.names,
            "max_length": s.max_length, "embeddings": s.embeddings}
    return base, hashlib.sha256(repr(sorted(base.items())).encode()).hexdigest()


def _kept_from_previous(s: _Setup, manifest: dict, previous: dict | None, base_sha: str) -> dict[str, dict]:
    """Artifacts an earlier run listed outside this run's selection stay listed if made from the same inputs
    (and their sub-model records with them)."""
    from . import manifest as M

    selected = {s.model.spec(w, d).name for w, d in s.pairs}
    kept: dict[str, dict] = {}
    if previous and previous.get("base_sha256") == base_sha:
        for art in M.artifacts_by_id(previous).values():
            outside = art["subnet"] not in selected or art["format"] not in s.formats
            if outside and art.get("sha256") and (s.root / art["path"]).exists():
                kept[art["id"]] = art
        manifest["subnets"] = [x for x in previous.get("subnets", []) if x["name"] not in selected]
    return kept


def _subnet_job(s: _Setup, args: argparse.Namespace, manifest: dict, base: dict, previous: dict | None,
                w: float, d: float):
    """Everything a worker needs for one sub-model, with the PyTorch reference logits it is checked against."""
    from . import manifest as M
    from .pipeline import SubnetJob

    subnet = _subnet_record(s.model, w, d)
    approx = any(FORMATS[f].gate == "approx" for f in s.formats)
    return SubnetJob(root=s.root, subnet=subnet, names=s.names, max_length=s.max_length,
                     num_labels=s.model.config.num_labels, pad_token_id=manifest["tokenizer"]["pad_token_id"],
                     full_params=s.embeddings["checkpoint_params"], inputs=s.inputs,
                     reference=_reference(s, s.inputs, w, d),
                     approx_inputs=s.approx_inputs if approx else None,
                     approx_reference=_reference(s, s.approx_inputs, w, d) if approx else None,
                     base_fingerprint=base,
                     previous={a["format"]: a for a in M.artifacts_by_id(previous).values()
                               if a.get("subnet") == subnet["name"]},
                     calibration=s.calibration, force=args.force, task=s.task)


def _build_hf(s: _Setup, job, w: float, d: float) -> dict:
    """``hf/`` is cut here, where the adaptive model lives; every other format is made from it."""
    from .huggingface import write_hf, write_loader_files
    from .pipeline import build_hf

    hf = build_hf(job, lambda p: write_hf(s.model, s.tokenizer, w, d, p, s.meta.label_names, s.meta.task),
                  _reload_stock)
    if hf["status"] != "failed" and any(FORMATS[f].runtime == "onnxruntime" for f in s.formats):
        # config + tokenizer beside model.onnx: optimum and transformers.pipeline load the folder as is.
        write_loader_files(job.path("hf"), job.dir)
    return hf


def _run(args: argparse.Namespace, s: _Setup, notes: list[str], t0: float) -> int:
    import torch
    from tqdm.auto import tqdm

    from . import manifest as M
    from .huggingface import write_tokenizer_dir
    from .workers import make_pool, run_chain_task, stop_pool

    manifest_path = s.root / M.MANIFEST_NAME
    previous = M.load(manifest_path)
    base, base_sha = _base_fingerprint(s)
    write_tokenizer_dir(s.tokenizer, s.root / "tokenizer", s.meta.label_names, s.meta.task)
    manifest = _new_manifest(s, base, base_sha, previous)
    results = _kept_from_previous(s, manifest, previous, base_sha)
    for note in notes:
        print(f"export.all: {note}", file=sys.stderr)
    bar = tqdm(total=len(s.pairs) * len(s.formats), desc="export", unit="artifact", disable=args.no_progress,
               dynamic_ncols=True)
    out = _Collector(manifest_path, manifest, results, bar)

    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    # More threads than cores make torch's OpenMP threads spin-wait on each other while workers run.
    torch.set_num_threads(threads)
    pool = make_pool(args.jobs, threads) if args.jobs > 1 else None
    futures: list[cf.Future] = []
    try:
        for w, d in s.pairs:
            job = _subnet_job(s, args, manifest, base, previous, w, d)
            manifest["subnets"].append(job.subnet)
            hf = _build_hf(s, job, w, d)
            out.add([hf])
            sha_of = {"hf": hf["sha256"]} if hf["sha256"] else {}
            for chain in CHAINS:
                chosen = [f for f in chain if f in s.formats]
                if chosen and pool is None:
                    out.add(run_chain_task(job, chosen, sha_of))
                elif chosen:
                    futures.append(pool.submit(run_chain_task, job, chosen, sha_of))
            for future in [f for f in futures if f.done()]:  # keep the manifest current while slicing
                futures.remove(future)
                out.add(future.result())
        for future in cf.as_completed(list(futures)):
            futures.remove(future)
            out.add(future.result())
    except BaseException as exc:
        for future in futures:
            future.cancel()
        if pool is not None and isinstance(exc, KeyboardInterrupt):
            stop_pool(pool)  # the workers ignore Ctrl-C; stop them now instead of waiting for their chains
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()

    _write_ort_config(s.root, manifest)
    wanted = {f"{s.model.spec(w, d).name}/{f}" for w, d in s.pairs for f in s.formats}
    # bool(wanted): a run that selected nothing has not completed anything
    manifest["complete"] = (bool(wanted) and wanted <= results.keys()
                            and not any(a["status"] == "failed" for a in results.values()))
    out.flush()
    if s.bundles:
        manifest["bundles"] = _bundles(args, s, manifest, previous)
        manifest["complete"] = manifest["complete"] and all(b["status"] == "passed" for b in manifest["bundles"])
        out.flush()
    return _report(args, manifest, manifest_path, t0)


def _bundles(args: argparse.Namespace, s: _Setup, manifest: dict, previous: dict | None) -> list[dict]:
    """Build (or keep) the shared-weight bundles from the sub-models just written (export.bundle), and
    return their manifest records. Kept: a previous record whose inputs (every hf/ checksum, the code, the
    verification sizes) and folder checksum still match."""
    from dynabert.fileio import sha256_path

    from . import bundle as B
    from .bundle_index import FOLDER
    from .bundle_index import FORMATS as BUNDLE_FORMATS

    hf = sorted((a["id"], a["sha256"]) for a in manifest["artifacts"] if a["format"] == "hf")
    fingerprint = hashlib.sha256(json.dumps({"hf": hf, "code": _code_sha(), "n_verify": args.n_verify,
                                             "n_verify_int8": args.n_verify_int8}).encode()).hexdigest()
    kept = {b.get("format"): b for b in (previous or {}).get("bundles") or [] if isinstance(b, dict)}
    records, todo = [], []
    for fmt in s.bundles:
        old, folder = kept.get(fmt), s.root / FOLDER[BUNDLE_FORMATS[fmt]]
        if (old and old.get("fingerprint") == fingerprint and old.get("status") == "passed" and folder.is_dir()
                and sha256_path(folder) == old.get("sha256")):
            records.append(old)
        else:
            todo.append(fmt)
    if todo:
        try:
            summaries = B.build_bundles(s.root, tuple(BUNDLE_FORMATS[f] for f in todo), out=s.root,
                                        data_dir=args.data_dir, n_verify=args.n_verify,
                                        n_verify_int8=args.n_verify_int8, progress=not args.no_progress,
                                        allow_failures=True)
        except B.BundleError as exc:
            raise ExportError(str(exc)) from None
        for fmt in todo:
            summary = summaries[BUNDLE_FORMATS[fmt]]
            folder = s.root / FOLDER[BUNDLE_FORMATS[fmt]]
            records.append({
                "format": fmt, "precision": summary["precision"], "path": folder.name + "/",
                "bytes": summary["bytes"], "sha256": sha256_path(folder), "fingerprint": fingerprint,
                "ratio_to_full": summary["ratio_to_full"], "ratio_to_sum": summary["ratio_to_sum"],
                "entries": summary["entries"], "status": "failed" if summary["failed"] else "passed",
                "errors": [f"{name}: failed verification" for name in summary["failed"]]})
    return [r for fmt in s.bundles for r in records if r["format"] == fmt]



def _report(args: argparse.Namespace, manifest: dict, manifest_path: Path, t0: float) -> int:
    """The summary table, the failures, then device_bench; the exit code."""
    from .report import summary_table

    print(summary_table(manifest, time.perf_counter() - t0))
    failed = [a for a in manifest["artifacts"] if a["status"] == "failed"]
    if failed:
        print(f"export.all: {len(failed)} artifact(s) FAILED verification: "
              f"{', '.join(a['id'] for a in failed)} (details in {manifest_path})", file=sys.stderr)
    code = 1 if failed and not args.allow_failures else 0
    if not args.no_bench:
        try:
            _bench(manifest_path)
        except Exception as exc:  # the export itself is done and verified; say so, and what went wrong after
            print(f"export.all: the export is complete, but device_bench failed: {type(exc).__name__}: {exc} "
                  "(re-run with --no-bench to skip it)", file=sys.stderr)
            code = code or 1
    return code


def _reload_stock(path: Path):
    """Reload ``hf/`` exactly as a user would: stock transformers, default attention."""
    from dynabert.backbone import load_classifier_weights

    # Strict: a tensor missing from hf/ must fail the artifact, not be initialised at random.
    return load_classifier_weights(path, use_safetensors=True).eval()


def _order_key(manifest: dict):
    subnet_order = {s["name"]: i for i, s in enumerate(manifest["subnets"])}
    format_order = {name: i for i, name in enumerate(FORMATS)}
    return lambda a: (subnet_order.get(a["subnet"], len(subnet_order)), format_order.get(a["format"], 99))


def _write_ort_config(root: Path, manifest: dict) -> None:
    from .ort_format import CONFIG_NAME, write_required_operators

    ort_files = [root / a["path"] for a in manifest["artifacts"]
                 if a["runtime"] == "onnxruntime-mobile" and a["status"] != "failed" and (root / a["path"]).exists()]
    if ort_files:
        write_required_operators(ort_files, root / CONFIG_NAME)
        manifest["ort_required_operators_config"] = CONFIG_NAME


def _bench(manifest_path: Path) -> None:
    """Hand the manifest to the device benchmark harness when it is installed."""
    if importlib.util.find_spec("device_bench") is None or importlib.util.find_spec("device_bench.harness") is None:
        print("device_bench is not installed yet; table skipped")
        return
    from device_bench.harness import run

    results = run(manifest_path)
    if results:  # the pick table and headline ratios, as `python -m device_bench` prints them
        from device_bench.table import summary

        print(summary(results), end="")


if __name__ == "__main__":
    sys.exit(main())

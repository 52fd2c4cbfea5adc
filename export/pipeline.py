"""One sub-model's artifacts: build each format, verify it, and describe it for the manifest.

:func:`run_chain` is what a worker process runs for one (sub-model, chain of formats) task; ``hf/`` is
built by :func:`build_hf` in the main process, which holds the adaptive model. Each artifact is skipped
when the previous run's record has the same fingerprint and the file still has its checksum.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynabert.data import TaskSpec
from dynabert.fileio import path_bytes, sha256_path

from . import verify as V
from .formats import FORMATS, Format
from .inputs import Inputs
from .manifest import USABLE, ArtifactRecord, SubnetRecord

#: ONNX graphs may add a few per-channel scales and folded constants to the weights.
ONNX_REL_TOL = 0.02
#: A .pte holds the lowered weights plus flatbuffer and delegate headers.
PTE_BYTES_REL_TOL = 0.05


@dataclass
class SubnetJob:
    """Everything a worker needs for one sub-model, picklable (no models, no sessions)."""

    root: Path  # the export folder (holds manifest.json)
    subnet: SubnetRecord  # the manifest's subnet record
    names: list[str]
    max_length: int
    num_labels: int
    pad_token_id: int
    full_params: int
    inputs: Inputs
    reference: np.ndarray  # (n, num_labels): the PyTorch sub-network on ``inputs``
    base_fingerprint: dict
    approx_inputs: Inputs | None = None  # reduced-precision formats are checked on these (more of them)
    approx_reference: np.ndarray | None = None
    previous: dict[str, dict] = field(default_factory=dict)  # format -> last run's record
    calibration: Inputs | None = None
    force: bool = False
    task: TaskSpec | None = None  # how the inputs' labels are scored (the reduced-precision metric gate)

    @property
    def dir(self) -> Path:
        return self.root / self.subnet["name"]

    def path(self, fmt: str) -> Path:
        return self.dir / FORMATS[fmt].filename.rstrip("/")

    def artifact_id(self, fmt: str) -> str:
        return f"{self.subnet['name']}/{fmt}"

    def parity_set(self, fmt: str) -> tuple[Inputs, np.ndarray]:
        """The inputs ``fmt`` is verified on and the PyTorch logits on them."""
        if FORMATS[fmt].gate == "approx" and self.approx_inputs is not None:
            return self.approx_inputs, self.approx_reference
        return self.inputs, self.reference


def fingerprint(job: SubnetJob, fmt: str, source_sha: str | None, extra: dict | None = None) -> str:
    record = {**job.base_fingerprint, "subnet": job.subnet["name"], "format": fmt, "source_sha256": source_sha,
              **(extra or {})}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def reusable(job: SubnetJob, fmt: str, fp: str) -> ArtifactRecord | None:
    """The previous record of ``fmt`` if it can be trusted as is, else None."""
    prev = job.previous.get(fmt)
    if job.force or not prev or prev.get("status") not in USABLE or prev.get("fingerprint") != fp:
        return None
    path = job.root / prev["path"]
    if not path.exists() or sha256_path(path) != prev.get("sha256"):
        return None
    return prev


def io_spec(fmt: Format, names: list[str], num_labels: int) -> tuple[list[dict], list[dict]]:
    from dynabert import runtimes as catalogue

    entry = catalogue.get(catalogue.own_runtime(fmt.runtime) or fmt.runtime)
    ids, batch = entry.ids_dtype, (1 if entry.batch_one else "batch")
    inputs = [{"name": n, "dtype": ids, "shape": [batch, "sequence"]} for n in names]
    outputs = [{"name": "logits", "dtype": "float32", "shape": [batch, num_labels]}]
    return inputs, outputs


def base_record(job: SubnetJob, fmt_name: str) -> ArtifactRecord:
    fmt = FORMATS[fmt_name]
    inputs, outputs = io_spec(fmt, job.names, job.num_labels)
    source = None if fmt.source is None else job.artifact_id(fmt.source)
    return {
        "id": job.artifact_id(fmt_name), "subnet": job.subnet["name"],
        "width_mult": job.subnet["width_mult"], "depth_mult": job.subnet["depth_mult"],
        "format": fmt_name, "precision": fmt.precision, "runtime": fmt.runtime,
        "path": f"{job.subnet['name']}/{fmt.filename.rstrip('/')}", "is_dir": fmt.is_dir,
        "bytes": None, "sha256": None, "inputs": inputs, "outputs": outputs, "max_length": job.max_length,
        "params": job.subnet["params"], "flops_seq128": job.subnet["flops_seq128"],
        "parity": None, "weights": None, "status": "failed", "errors": [], "details": {},
        "source": source, "fingerprint": None, "export_seconds": None, "export_cpu_seconds": None,
    }


def finish(record: ArtifactRecord, path: Path) -> ArtifactRecord:
    """Fill in size and checksum, and the status from the checks already recorded."""
    if path.exists():
        record["bytes"] = path_bytes(path)
        record["sha256"] = sha256_path(path)
    else:
        record["errors"].append(f"{record['path']} was not written")
    for name, check in (("weights", record.get("weights")), ("spec", record.get("spec_check"))):
        if check is not None and not check.get("passed"):
            record["errors"].append(f"{name} check failed: {json.dumps(check.get('problems', check))[:300]}")
    parity = record.get("parity") or {}
    if parity.get("passed") is False:
        record["errors"].append(
            f"parity failed: max |diff| {parity['max_abs_diff']:.3g}, argmax agreement {parity['argmax_agreement']}")
    if record["errors"] or not parity:
        record["status"] = "failed"
    elif parity.get("passed") is None:
        record["status"] = "unverified"
    else:
        record["status"] = "passed"
    return record


def gate(fmt: str) -> V.Gate:
    return V.Gate(FORMATS[fmt].gate)


# ---------------------------------------------------------------------------------------------- hf (main)


def build_hf(job: SubnetJob, write: Callable[[Path], None], reload: Callable[[Path], object]) -> ArtifactRecord:
    """``hf/`` for ``job``: ``write(path)`` slices and saves it; ``reload(path)`` loads it with stock
    transformers (the check that it is reloadable); both live in the caller, which holds the model."""
    import torch

    from .huggingface import safetensors_numel

    path = job.path("hf")
    fp = fingerprint(job, "hf", None)
    prev = reusable(job, "hf", fp)
    if prev is not None:
        return prev
    record = base_record(job, "hf")
    record["fingerprint"] = fp
    start, cpu = time.perf_counter(), time.process_time()
    try:
        write(path)
        model = reload(path)

        def run():
            outs = []
            with torch.no_grad():
                single = [model(**{n: torch.from_numpy(f[n]) for n in job.names}).logits.numpy()
                          for f in job.inputs.features]
                outs.append(np.concatenate(single))
                batched = np.zeros_like(outs[0])
                for idx, batch in job.inputs.padded_batches(V.BATCH_SIZE, job.pad_token_id):
                    batched[idx] = model(**{n: torch.from_numpy(v) for n, v in batch.items()}).logits.numpy()
                outs.append(batched)
            return outs, ["batch1", f"padded-batch{V.BATCH_SIZE}"]

        record["parity"] = V.verify(run, job.reference, gate("hf"))
        record["weights"] = V.weights_record("safetensors", safetensors_numel(path), job.subnet["params"]["total"],
                                             job.full_params, rel_tol=0.0)
        record["details"] = {"pruned_heads": bool(getattr(model.config, "pruned_heads", None)),
                             "num_hidden_layers": model.config.num_hidden_layers}
    except Exception as exc:  # reported in the manifest and the summary, never swallowed silently
        record["errors"].append(_one_line(exc))
    record["export_seconds"] = round(time.perf_counter() - start, 3)
    record["export_cpu_seconds"] = round(time.process_time() - cpu, 3)
    return finish(record, path)


# ---------------------------------------------------------------------------------------------- chains


class _Context:
    """Lazily built intermediates shared by the formats of one chain (the eager model, the plain graph)."""

    def __init__(self, job: SubnetJob, scratch: Path):
        self.job = job
        self.scratch = scratch
        self._model = None
        self._plain: Path | None = None
        self._int4emb: tuple[Path, dict] | None = None

    @property
    def model(self):
        if self._model is None:
            from .wrapper import load_eager

            self._model = load_eager(self.job.path("hf"))
        return self._model

    @property
    def plain_onnx(self) -> Path:
        if self._plain is None:
            from .onnx_export import export_onnx, wrap

            self._plain = self.scratch / "plain.onnx"
            export_onnx(wrap(self.model, self.job.names), self.job.names, self._plain,
                        example_len=min(16, self.job.max_length))
        return self._plain

    @property
    def plain_int4emb(self) -> tuple[Path, dict]:
        """The plain graph with its word table in 4-bit blocks, and the table's record: what the int4emb and the
        int4ffn files both start from."""
        if self._int4emb is None:
            from .embeddings import quantize_word_embeddings_int4

            path = self.scratch / "plain-int4emb.onnx"
            self._int4emb = (path, quantize_word_embeddings_int4(self.plain_onnx, path))
        return self._int4emb


def _build_onnx(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .optimize import choose_graph

    job = ctx.job
    record["details"] = choose_graph(ctx.plain_onnx, ctx.scratch, path, job.inputs)
    _ship_settings(record, record["details"]["session_settings"])
    _verify_onnx(job, fmt, path, record, V.onnx_weight_count(path), "onnx-initializers")


def _parity(job: SubnetJob, fmt: str, path: Path, record: dict, not_run_note: str = "") -> None:
    """The file against the PyTorch sub-network, in its own runtime (dynabert.runtimes), or why not run."""
    family = FORMATS[fmt].runtime
    reason = V.unavailable(family)
    if reason is not None:
        record["parity"] = V.not_run(reason + not_run_note)
        return
    inputs, reference = job.parity_set(fmt)
    settings = record.get("session_settings") or {}
    record["parity"] = V.verify(lambda: V.run_file(family, path, inputs, job.pad_token_id, settings), reference,
                                gate(fmt), inputs.labels, job.task)


def _verify_onnx(job: SubnetJob, fmt: str, path: Path, record: dict, counted: int, method: str) -> None:
    _parity(job, fmt, path, record)
    record["weights"] = V.weights_record(method, counted, job.subnet["params"]["total"], job.full_params,
                                         ONNX_REL_TOL)


def _ship_settings(record: dict, choice: dict) -> None:
    """The file ships with ``choice["settings"]``: the manifest's per-artifact ``session_settings`` (what every
    runtime applies when it opens the file, parity included); how they were chosen stays in ``details``."""
    record["details"]["session_settings"] = choice
    record["session_settings"] = choice["settings"]


def _session_settings(job: SubnetJob, path: Path) -> dict:
    """The ONNX Runtime session settings that go with ``path``, measured here (see export.session_settings)."""
    from .session_settings import choose

    return choose(path, [{name: f[name] for name in job.names} for f in job.inputs.features[:16]])


#: INT8 recipes for ONNX Runtime, fastest first (export.quantize): a file is kept with the first recipe whose
#: output passes the gate; the rejected attempts stay in its ``details``.
INT8_RECIPES = ("dynamic", "blockwise")


def _packed_correction(onnx_path: Path) -> int:
    """What to add to a stored-element count of a file made from ``onnx_path`` to count its packed weights
    (8-bit ``MatMulNBits`` blocks, 4-bit embedding tables) in parameters; 0 where it has none."""
    from .embeddings import int4_count_correction
    from .quantize import nbits_count_correction

    return nbits_count_correction(onnx_path) + int4_count_correction(onnx_path)


def _quantize_until_gated(ctx: _Context, fmt: str, source: Path, path: Path, record: dict, details: dict,
                          extra_options: dict | None = None) -> None:
    from .quantize import quantize_blockwise_int8, quantize_dynamic_int8

    recipes = {"dynamic": quantize_dynamic_int8, "blockwise": quantize_blockwise_int8}
    rejected = []
    for name in INT8_RECIPES:
        record["details"] = {**recipes[name](source, ctx.scratch, path, extra_options), **details}
        _ship_settings(record, _session_settings(ctx.job, path))
        counted = V.onnx_weight_count(path) + _packed_correction(path)
        _verify_onnx(ctx.job, fmt, path, record, counted, "onnx-initializers")
        if record["parity"].get("passed") is not False or name == INT8_RECIPES[-1]:
            break
        rejected.append({"method": name, "parity": record["parity"]})
    if rejected:
        record["details"]["rejected"] = rejected


def _build_onnx_int8(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    _quantize_until_gated(ctx, fmt, ctx.plain_onnx, path, record, {"from": "plain graph"})


def _build_onnx_int4emb(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    import onnx

    int4, embeddings = ctx.plain_int4emb
    # The contrib op's output has no type for ONNX shape inference: tell the quantizer it is fp32.
    _quantize_until_gated(ctx, fmt, int4, path, record, {"word_embeddings": embeddings, "from": "plain graph"},
                          {"DefaultTensorType": onnx.TensorProto.FLOAT})


def _build_onnx_int4ffn(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    """No fallback recipe: a 4-bit file that misses the gate is reported failed (the format is opt-in)."""
    from .quantize import quantize_int4ffn

    int4, embeddings = ctx.plain_int4emb
    record["details"] = {**quantize_int4ffn(int4, ctx.scratch, path), "word_embeddings": embeddings,
                         "from": "plain graph"}
    _ship_settings(record, _session_settings(ctx.job, path))
    _verify_onnx(ctx.job, fmt, path, record, V.onnx_weight_count(path) + _packed_correction(path),
                 "onnx-initializers")


def _build_onnx_qdq(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .quantize import quantize_static_qdq

    if ctx.job.calibration is None:
        raise RuntimeError("static quantization needs calibration inputs (train split)")
    record["details"] = {**quantize_static_qdq(ctx.plain_onnx, ctx.scratch, path, ctx.job.calibration),
                         "from": "plain graph"}
    _ship_settings(record, _session_settings(ctx.job, path))
    _verify_onnx(ctx.job, fmt, path, record, V.onnx_weight_count(path), "onnx-initializers")


def _build_ort(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .ort_format import CONFIG_NAME, convert_to_ort, write_required_operators
    from .session_settings import ARM_DEFAULT

    source = ctx.job.path(FORMATS[fmt].source)
    # .ort files are for phones (ARM): the ARM default settings are baked in when converting.
    record["details"] = convert_to_ort(source, ctx.scratch, path, session_settings=ARM_DEFAULT)
    _ship_settings(record, {"settings": ARM_DEFAULT,
                            "chosen_by": "default for ARM (not timed: see export.session_settings)"})
    counted = V.ort_weight_count(path) + _packed_correction(source)
    _verify_onnx(ctx.job, fmt, path, record, counted, "ort-initializers")
    # Per sub-model config, so one model can be shipped with a build reduced to exactly its operators.
    config = ctx.job.dir / f"{path.stem}.{CONFIG_NAME}"
    write_required_operators([path], config)
    record["details"]["required_operators_config"] = f"{ctx.job.subnet['name']}/{config.name}"


def _coreml_checks(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .coreml import validate_spec

    job = ctx.job
    record["spec_check"] = validate_spec(path, job.names, job.max_length, job.num_labels,
                                         record["details"]["deployment_target"])
    record["weights"] = V.weights_record("coreml-mil-consts", V.coreml_weight_count(path),
                                         job.subnet["params"]["total"], job.full_params, ONNX_REL_TOL)
    _parity(job, fmt, path, record, " (Core ML prediction has no Linux runtime); spec validated")


def _build_coreml(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .coreml import convert

    record["details"] = convert(ctx.model, ctx.job.names, ctx.job.max_length, path)
    _coreml_checks(ctx, fmt, path, record)


def _build_coreml_int8(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .coreml import quantize_weights

    record["details"] = quantize_weights(ctx.job.path("coreml"), path)
    _coreml_checks(ctx, fmt, path, record)


def _build_coreml_int4emb(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    from .coreml import INT4_DEPLOYMENT_TARGET, convert, quantize_weights

    fp16 = ctx.scratch / "model.ios18.mlpackage"
    convert(ctx.model, ctx.job.names, ctx.job.max_length, fp16, target=INT4_DEPLOYMENT_TARGET)
    record["details"] = quantize_weights(fp16, path, embeddings_int4_dim=ctx.model.config.hidden_size)
    _coreml_checks(ctx, fmt, path, record)


def _pte_attempt(ctx: _Context, fmt: str, path: Path, record: dict, fp32_layers: tuple[int, ...]) -> None:
    from .pte import export_pte

    job = ctx.job
    record["details"] = export_pte(ctx.model, job.names, job.max_length, path, int8=fmt == "pte-int8",
                                   fp32_layers=fp32_layers)
    counted = record["details"].pop("weights_in_graph")
    weights = V.weights_record("exported-program", counted, job.subnet["params"]["total"], job.full_params,
                               ONNX_REL_TOL)
    # The file cannot hold more than the graph's weights (4 bytes each at most) plus headers.
    limit = 4 * counted * (1 + PTE_BYTES_REL_TOL) + (1 << 16)
    weights["file_bytes_limit"] = int(limit)
    weights["passed"] = weights["passed"] and path.stat().st_size <= limit
    record["weights"] = weights
    _parity(job, fmt, path, record)


def _litert_attempt(ctx: _Context, fmt: str, path: Path, record: dict, fp32_layers: tuple[int, ...]) -> None:
    from .litert import export_litert, quantize_litert_int8, tflite_weight_count

    job = ctx.job
    if fmt == "litert":
        record["details"] = export_litert(ctx.model, job.names, job.max_length, path)
    else:
        record["details"] = quantize_litert_int8(job.path(FORMATS[fmt].source), path,
                                                 embeddings_int4=fmt == "litert-int4emb", fp32_layers=fp32_layers,
                                                 num_layers=ctx.model.config.num_hidden_layers)
    record["weights"] = V.weights_record("tflite-buffers", tflite_weight_count(path), job.subnet["params"]["total"],
                                         job.full_params, ONNX_REL_TOL)
    _parity(job, fmt, path, record)


#: Reduced-precision formats whose fallback keeps encoder layers in fp32 (export.mixed_precision): their
#: runtimes have no block-wise 8-bit recipe to fall back to as ONNX Runtime's files do (INT8_RECIPES).
FP32_LAYER_FALLBACK = ("pte-int8", "litert-int8", "litert-int4emb")

Attempt = Callable[[_Context, str, Path, dict, tuple[int, ...]], None]


def _with_fp32_layer_fallback(attempt: Attempt, ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    """``attempt`` with every linear layer quantized; for :data:`FP32_LAYER_FALLBACK` formats whose file then
    misses its gate, again with the most sensitive encoder layer in fp32, then the two most sensitive, ...
    until one passes (export.mixed_precision); the rejected attempts stay in ``details``."""
    from .mixed_precision import RANKING_EXAMPLES, fallback_plans, layer_sensitivity

    attempt(ctx, fmt, path, record, ())
    if fmt not in FP32_LAYER_FALLBACK or record["parity"].get("passed") is not False:
        return
    rejected = [{"fp32_layers": [], "parity": record["parity"]}]
    ranking = ctx.job.calibration if ctx.job.calibration is not None else ctx.job.inputs
    scores = layer_sensitivity(ctx.model, ranking)
    plans = fallback_plans(scores)
    for i, layers in enumerate(plans):
        attempt(ctx, fmt, path, record, layers)
        if record["parity"].get("passed") is not False or i == len(plans) - 1:
            break
        rejected.append({"fp32_layers": list(layers), "parity": record["parity"]})
    record["details"]["rejected"] = rejected
    record["details"]["layer_sensitivity"] = {
        "logit_mse": [float(f"{x:.4g}") for x in scores],
        "ranked_on": f"{min(len(ranking), RANKING_EXAMPLES)} {ranking.split} inputs (labels not used)"}


def _build_pte(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    _with_fp32_layer_fallback(_pte_attempt, ctx, fmt, path, record)


def _build_litert(ctx: _Context, fmt: str, path: Path, record: dict) -> None:
    _with_fp32_layer_fallback(_litert_attempt, ctx, fmt, path, record)


BUILDERS: dict[str, Callable[[_Context, str, Path, dict], None]] = {
    "onnx": _build_onnx,
    "onnx-int8": _build_onnx_int8,
    "onnx-qdq": _build_onnx_qdq,
    "onnx-int4emb": _build_onnx_int4emb,
    "onnx-int4ffn": _build_onnx_int4ffn,
    "ort": _build_ort,
    "ort-int8": _build_ort,
    "ort-qdq": _build_ort,
    "ort-int4emb": _build_ort,
    "ort-int4ffn": _build_ort,
    "coreml": _build_coreml,
    "coreml-int8": _build_coreml_int8,
    "coreml-int4emb": _build_coreml_int4emb,
    "pte": _build_pte,
    "pte-int8": _build_pte,
    "litert": _build_litert,
    "litert-int8": _build_litert,
    "litert-int4emb": _build_litert,
}


def _litert_versions() -> dict[str, str | None]:
    import importlib.metadata

    versions: dict[str, str | None] = {}
    for dist in ("litert-torch", "ai-edge-litert", "ai-edge-quantizer"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _format_extra(job: SubnetJob, fmt: str) -> dict:
    """What a format's file depends on beyond the run's base: kept out of the base so that a run for other
    formats does not invalidate (and drop from the manifest) artifacts it did not touch."""
    extra: dict = {}
    if FORMATS[fmt].extra == "litert":
        # The LiteRT tools shape only these files: kept out of the base so that installing the extra does
        # not re-export every other artifact of an existing export.
        extra["litert_tools"] = _litert_versions()
    if FORMATS[fmt].gate == "approx" and job.approx_inputs is not None:
        extra["approx_inputs_sha256"] = job.approx_inputs.fingerprint()
    # A file whose runtime cannot run here (Core ML off macOS) is only "unverified": redone where it can.
    extra["own_runtime_runs_here"] = V.unavailable(FORMATS[fmt].runtime) is None
    if (fmt == "onnx-qdq" or fmt in FP32_LAYER_FALLBACK) and job.calibration is not None:
        extra["calibration_sha256"] = job.calibration.fingerprint()  # QDQ scales; the fallback's layer ranking
    return extra


def run_chain(job: SubnetJob, formats: list[str], sha_of: dict[str, str]) -> list[ArtifactRecord]:
    """Build (or reuse) ``formats`` of one sub-model in order; return their manifest records.

    ``sha_of`` maps format -> sha256 of artifacts already known (at least ``hf``).
    """
    job.dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".scratch.", suffix=".tmp", dir=job.dir))
    ctx = _Context(job, scratch)
    records = []
    sha_of = dict(sha_of)
    try:
        for fmt in formats:
            source = FORMATS[fmt].source
            source_sha = sha_of.get(source) if source else None
            record = base_record(job, fmt)
            if source and source_sha is None:
                record["errors"].append(f"source {job.artifact_id(source)} could not be exported")
                records.append(record)
                continue
            fp = fingerprint(job, fmt, source_sha, _format_extra(job, fmt))
            prev = reusable(job, fmt, fp)
            if prev is not None:
                records.append(prev)
                sha_of[fmt] = prev["sha256"]
                continue
            record["fingerprint"] = fp
            path = job.path(fmt)
            start, cpu = time.perf_counter(), time.process_time()
            try:
                BUILDERS[fmt](ctx, fmt, path, record)
            except Exception as exc:  # the artifact is marked failed with the reason; the chain goes on
                record["errors"].append(_one_line(exc))
                record["details"]["traceback"] = traceback.format_exc(limit=6)
            record["export_seconds"] = round(time.perf_counter() - start, 3)
            # CPU time too: on a shared machine wall time says more about the neighbours than the export.
            record["export_cpu_seconds"] = round(time.process_time() - cpu, 3)
            finish(record, path)
            if record["sha256"] is not None:
                # Derived files are made even from a source that failed its gate: they are verified (and
                # marked) on their own, and the manifest then shows what each format would have been.
                sha_of[fmt] = record["sha256"]
            records.append(record)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return records


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:400] if text else type(exc).__name__

"""The deployment formats: what each one is, which file it writes, which tool it needs.

One table (:data:`FORMATS`) that the CLI, the pipeline, the manifest and the tests all read, so a format's
file name, precision and runtime are stated once.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass


class ExportError(RuntimeError):
    """A problem the user can fix (bad flag, missing tool, no data): printed as one line, exit code 2."""


@dataclass(frozen=True)
class Format:
    name: str
    filename: str  # inside the sub-model folder; a trailing "/" marks a directory artifact
    precision: str  # fp32 | fp16 | int8 (dynamic) | int8-static (QDQ) | int8-weights (fp16 compute) | int8+int4emb
    #                 | int8+int4ffn (int4emb with the feed-forward weights in 4-bit blocks too)
    runtime: str  # what runs it on the device; device_bench dispatches on this
    tool: str  # the Python distribution that produces it
    source: str | None = None  # the format it is derived from (its checksum is part of this one's inputs)
    extra: str | None = None  # the pip extra that installs ``tool`` when it is optional
    default: bool = True  # exported when --formats is not given
    #: "exact": max |logit diff| <= atol and identical argmax; "approx": argmax agreement >= the minimum.
    gate: str = "exact"

    @property
    def is_dir(self) -> bool:
        return self.filename.endswith("/")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("hf", "hf/", "fp32", "transformers", "transformers"),
        Format("onnx", "model.onnx", "fp32", "onnxruntime", "onnxruntime", source="hf"),
        # Quantized from the plain (unfused) graph of hf/, not from model.onnx: see export.quantize.
        Format("onnx-int8", "model.int8.onnx", "int8", "onnxruntime", "onnxruntime", source="hf", gate="approx"),
        # Static QDQ is opt-in (--formats): with MinMax calibration it missed the agreement gate on most
        # full-depth MiniLM sub-models (0.64-0.95), where dynamic INT8 holds.
        Format("onnx-qdq", "model.qdq.onnx", "int8-static", "onnxruntime", "onnxruntime", source="hf",
               gate="approx", default=False),
        # Opt-in (--formats): dynamic INT8 with the word-embedding table in 4-bit blocks (ONNX Runtime's
        # GatherBlockQuantized contrib op), the table being most of a small sub-model's bytes.
        Format("onnx-int4emb", "model.int4emb.onnx", "int8+int4emb", "onnxruntime", "onnxruntime", source="hf",
               gate="approx", default=False),
        # Opt-in: the int4emb file with the feed-forward weights in 4-bit blocks of 64 too (MatMulNBits; the
        # attention projections stay dynamic INT8): the full sub-model under half its INT8 bytes, slower on
        # x86 than the INT8 file (export.quantize.quantize_int4ffn).
        Format("onnx-int4ffn", "model.int4ffn.onnx", "int8+int4ffn", "onnxruntime", "onnxruntime", source="hf",
               gate="approx", default=False),
        Format("ort", "model.ort", "fp32", "onnxruntime-mobile", "onnxruntime", source="onnx"),
        Format("ort-int8", "model.int8.ort", "int8", "onnxruntime-mobile", "onnxruntime", source="onnx-int8",
               gate="approx"),
        Format("ort-qdq", "model.qdq.ort", "int8-static", "onnxruntime-mobile", "onnxruntime", source="onnx-qdq",
               gate="approx", default=False),
        Format("ort-int4emb", "model.int4emb.ort", "int8+int4emb", "onnxruntime-mobile", "onnxruntime",
               source="onnx-int4emb", gate="approx", default=False),
        Format("ort-int4ffn", "model.int4ffn.ort", "int8+int4ffn", "onnxruntime-mobile", "onnxruntime",
               source="onnx-int4ffn", gate="approx", default=False),
        Format("coreml", "model.mlpackage/", "fp16", "coreml", "coremltools", source="hf", gate="approx"),
        Format("coreml-int8", "model.int8.mlpackage/", "int8-weights", "coreml", "coremltools", source="coreml",
               gate="approx"),
        # Opt-in: int8 weights with the embedding tables in 4-bit blocks; converted anew for iOS 18, the first
        # Core ML target that stores 4-bit block-wise weights (export.coreml.INT4_DEPLOYMENT_TARGET).
        Format("coreml-int4emb", "model.int4emb.mlpackage/", "int8+int4emb", "coreml", "coremltools", source="hf",
               gate="approx", default=False),
        Format("pte", "model.pte", "fp32", "executorch-xnnpack", "executorch", source="hf", extra="executorch"),
        Format("pte-int8", "model.int8.pte", "int8", "executorch-xnnpack", "executorch", source="hf",
               extra="executorch", gate="approx"),
        # Fixed shapes, one signature per length bucket up to max_length (litert-torch cannot convert a dynamic
        # sequence axis; see export.litert).
        Format("litert", "model.tflite", "fp32", "litert-xnnpack", "litert-torch", source="hf", extra="litert"),
        # Dynamic range (ai-edge-quantizer dynamic_wi8_afp32): int8 per-channel weights, fp32 activations.
        Format("litert-int8", "model.int8.tflite", "int8", "litert-xnnpack", "litert-torch", source="litert",
               extra="litert", gate="approx"),
        # Opt-in: the same with the embedding tables in 4-bit blocks (EMBEDDING_LOOKUP, ai-edge-quantizer).
        Format("litert-int4emb", "model.int4emb.tflite", "int8+int4emb", "litert-xnnpack", "litert-torch",
               source="litert", extra="litert", gate="approx", default=False),
    )
}

#: Formats that are exported together in one worker task, in order (each one's source comes earlier or
#: is ``hf``, which the main process writes first). Grouping keeps a derived file next to its source in
#: one process, and splitting the slow ExecuTorch lowering lets two workers share it.
CHAINS: tuple[tuple[str, ...], ...] = (
    ("onnx", "onnx-int8", "onnx-qdq", "onnx-int4emb", "onnx-int4ffn", "ort", "ort-int8", "ort-qdq", "ort-int4emb",
     "ort-int4ffn"),
    ("coreml", "coreml-int8", "coreml-int4emb"),
    ("pte",),
    ("pte-int8",),
    ("litert", "litert-int8", "litert-int4emb"),
)

_IMPORT_NAME = {"onnxruntime": "onnxruntime", "coremltools": "coremltools", "executorch": "executorch",
                "transformers": "transformers", "litert-torch": "litert_torch"}


def tool_available(tool: str) -> bool:
    return importlib.util.find_spec(_IMPORT_NAME[tool]) is not None


def install_hint(fmt: Format) -> str:
    if fmt.extra:
        return f"pip install 'dynabert-edge[{fmt.extra}]'"
    return f"pip install {fmt.tool}"


def resolve_formats(requested: list[str] | None) -> tuple[list[str], list[str]]:
    """Validate ``--formats``; return (formats to export, notes about default formats left out).

    ``hf`` is always included: every other format is exported from it. An unknown format or one whose
    tool is not installed raises :class:`ExportError` naming the extra to install.
    """
    notes: list[str] = []
    if requested is None:
        chosen = []
        for fmt in FORMATS.values():
            if not fmt.default:
                continue
            if tool_available(fmt.tool):
                chosen.append(fmt.name)
            else:
                notes.append(f"{fmt.name}: skipped, {fmt.tool} is not installed ({install_hint(fmt)})")
    else:
        unknown = [name for name in requested if name not in FORMATS]
        if unknown:
            raise ExportError(f"unknown format {', '.join(map(repr, unknown))}; known formats: {', '.join(FORMATS)}")
        for name in requested:
            fmt = FORMATS[name]
            if not tool_available(fmt.tool):
                raise ExportError(f"format {name!r} needs {fmt.tool}, which is not installed: {install_hint(fmt)}")
        chosen = list(dict.fromkeys(["hf", *requested]))
    # A derived format needs its source in the same run (its checksum is one of the inputs).
    for name in list(chosen):
        source = FORMATS[name].source
        while source is not None and source not in chosen:
            chosen.append(source)
            source = FORMATS[source].source
    order = list(FORMATS)
    return sorted(chosen, key=order.index), notes


def tool_versions() -> dict[str, str | None]:
    """Versions of everything that shapes an artifact's bytes; ``None`` for what is not installed."""
    versions: dict[str, str | None] = {}
    for dist in ("dynabert-edge", "torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime",
                 "coremltools", "executorch", "torchao", "numpy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions

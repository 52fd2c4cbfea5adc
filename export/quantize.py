"""INT8 ONNX: dynamic quantization (CPU) and static QDQ (what mobile accelerators take), via onnxruntime.

Dynamic stays the default INT8: measured side by side (quickstart MiniLM sub-models, 300 dev inputs, seq 128,
1 thread, thread CPU time), static QDQ with MinMax calibration on 64 train examples was both slower and
less faithful: w1_d1 11.5 vs 7.6 ms and 95.0 % vs 99.0 % argmax agreement with fp32; w0.25_d0.5 2.04 vs
1.52 ms and 95.3 % vs 98.7 %. On CPU the QDQ graph runs fused QLinear kernels with requantization between
every op, and the static activation ranges clip outliers that per-run dynamic ranges keep.

When dynamic INT8 misses the gate (measured on the MRPC MiniLM run: 7 of 12 sub-models at 96.6-97.8 %
argmax agreement on the 408 dev pairs, w1_d1 F1 -1.1 points), export falls back to block-wise 8-bit weights
(``MatMulNBits``, one scale per 64 weights, ``accuracy_level`` 4: activations quantized per block instead of
once per tensor). Same run, w1_d1, blocks of 32 to 128: 99.75 % agreement, mean |logit diff| 0.012-0.015
vs 0.039, 23.6-24.6 vs 22.9 MB, but 1.6-1.8x the dynamic file's latency on this x86 CPU (12.6-13.9 vs 7.9 ms
at seq 128, 1 thread): the fallback, never the default (``export.pipeline.INT8_RECIPES``).

All start from the plain (unfused) fp32 graph. The fused graph hides the embedding ``Gather`` inside
``EmbedLayerNormalization`` (so half of a MiniLM's weights would stay fp32), and its quantized
``QAttention`` measured 3x slower than the quantized plain graph on CPU. Also measured and not adopted: each
traced attention rewritten as one ``MultiHeadAttention`` contrib node (fp32, between the quantized
projections) with the query/key/value MatMuls merged into one. Paired interleaved A/B of the quantized SST-2
MiniLM files (seq 128, 1 thread, 12-40 rounds): w0.25_d1 1.9-2.6 % faster, w0.25_d0.5 0.3 %, w0.25_d0.75
between 3.8 % slower and 1.0 % faster, w1_d1 1.4-2.7 %, w0.5_d1 3.0-3.9 % and w0.75_d0.5 1.1-1.6 % slower.
Choosing it per file would need a timing that separates 2 % reliably; export's (16 inputs x 7 rounds) gave
-4.9 to -0.1 % for w0.25_d1 in four repeats (the code is in the history: a36cb13).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from dynabert.fileio import atomic_file

from .inputs import Inputs

#: Per-channel int8 weights: per-tensor QInt8 loses accuracy on this model family (one scale for a whole
#: projection is set by its largest row). Gather quantizes the embedding table, weight-only.
DYNAMIC_OPS = ("MatMul", "Gather")


def _without_value_info(src: Path, dst: Path) -> None:
    # Stale value_info (dynamo exports carry shapes with their own symbolic names) makes the quantizer's
    # shape inference fail or mistype tensors; it is recomputed anyway.
    model = onnx.load(str(src))
    del model.graph.value_info[:]
    onnx.save(model, str(dst))


class _quiet:
    """Silence the quantizer's advice to run pre-processing (we do where it matters) during one call."""

    def __enter__(self):
        self.logger = logging.getLogger()
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def quantize_dynamic_int8(plain: Path, scratch: Path, final: Path, extra_options: dict | None = None) -> dict:
    """``extra_options`` go to onnxruntime's quantizer (e.g. ``DefaultTensorType`` for graphs with contrib ops,
    whose outputs ONNX shape inference cannot type)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    clean = scratch / "dynamic-input.onnx"
    _without_value_info(plain, clean)
    try:
        with atomic_file(final) as tmp, _quiet():
            quantize_dynamic(str(clean), str(tmp), per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=list(DYNAMIC_OPS), extra_options=extra_options)
    finally:
        clean.unlink(missing_ok=True)
    return {"method": "dynamic", "weights": "QInt8 per-channel", "activations": "dynamic uint8",
            "ops": list(DYNAMIC_OPS)}


#: Weights per scale of the block-wise fallback. Every K of a sliced BERT is a multiple of 64 (head size 64,
#: hidden and FFN sizes multiples of 384), so no block is padded on the models this toolkit slices.
BLOCKWISE_BLOCK = 64


def _nbits_then_dynamic(plain: Path, scratch: Path, final: Path, bits: int, block: int, dynamic_ops: list[str],
                        exclude: Callable[[onnx.ModelProto], list[str]] | None = None,
                        extra_options: dict | None = None) -> int:
    """MatMuls as symmetric ``bits``-bit blocks (onnxruntime's ``MatMulNBits``, int8 compute; those named by
    ``exclude(model)`` left alone), then ``dynamic_ops`` through the dynamic recipe: what the block-wise and
    the int4ffn files share. Returns how many MatMuls went into blocks."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    clean = scratch / f"nbits{bits}-input.onnx"
    matmuls = scratch / f"nbits{bits}-matmul.onnx"
    _without_value_info(plain, clean)
    model = onnx.load(str(clean))
    excluded = exclude(model) if exclude else []
    with _quiet():
        # Imported here, quieted: the module sets the root logger to INFO when imported (_quiet restores it).
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(model, bits=bits, block_size=block, is_symmetric=True, accuracy_level=4,
                                         nodes_to_exclude=excluded,
                                         op_types_to_quantize=("MatMul",))
        quantizer.process()
        onnx.save(quantizer.model.model, str(matmuls))
    blocked = sum(n.op_type == "MatMulNBits" for n in quantizer.model.model.graph.node)
    # The contrib ops' outputs (MatMulNBits, GatherBlockQuantized) have no type for ONNX shape inference.
    options = {"DefaultTensorType": onnx.TensorProto.FLOAT, **(extra_options or {})}
    with atomic_file(final) as tmp, _quiet():
        quantize_dynamic(str(matmuls), str(tmp), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=dynamic_ops, extra_options=options)
    return blocked


def quantize_blockwise_int8(plain: Path, scratch: Path, final: Path, extra_options: dict | None = None) -> dict:
    """MatMul weights as symmetric 8-bit blocks (onnxruntime's ``MatMulNBits``, int8 compute), embedding tables
    as the dynamic recipe stores them (``Gather``, weight-only). ``extra_options`` as for the dynamic recipe."""
    _nbits_then_dynamic(plain, scratch, final, 8, BLOCKWISE_BLOCK, ["Gather"], extra_options=extra_options)
    return {"method": "blockwise", "weights": f"int8 symmetric, blocks of {BLOCKWISE_BLOCK} (MatMulNBits)",
            "activations": "int8 per block (accuracy_level 4)", "ops": ["MatMul", "Gather"]}


#: Weights per scale of the 4-bit feed-forward weights (``onnx-int4ffn``). Measured on the SST-2 MiniLM w1_d1
#: with the task vocabulary (872 dev sentences): blocks of 64 lost no more than blocks of 32 (89.33 vs 89.22
#: accuracy; unpruned both 89.91) and are 0.44 MB smaller (11.23 vs 11.67 MB).
INT4_FFN_BLOCK = 64


def ffn_matmuls(model: onnx.ModelProto) -> list[str]:
    """The feed-forward MatMuls of a traced BERT/RoBERTa graph (``intermediate.dense``, ``output.dense``; not
    the attention's ``output.dense``), by the module path the TorchScript exporter writes into node names."""
    return [node.name for node in model.graph.node if node.op_type == "MatMul"
            and ("/intermediate/dense/" in node.name
                 or ("/output/dense/" in node.name and "/attention/" not in node.name))]


def _not_ffn(model: onnx.ModelProto) -> list[str]:
    """The MatMuls :func:`quantize_int4ffn` leaves 8-bit: every one but the feed-forward ones."""
    ffn = set(ffn_matmuls(model))
    if not ffn:
        raise RuntimeError("no feed-forward MatMul found (expected node names with /intermediate/dense/)")
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in ffn]


def quantize_int4ffn(plain: Path, scratch: Path, final: Path) -> dict:
    """The feed-forward weights as symmetric 4-bit blocks (``MatMulNBits``, int8 compute), every other MatMul
    and the embedding tables as the dynamic recipe stores them. ``plain`` may already hold a 4-bit word
    table (``GatherBlockQuantized``, :mod:`export.embeddings`), which is left as it is.

    Two thirds of a BERT layer's weights are its feed-forward ones; in 4 bits the full MiniLM sub-model's
    encoder takes ~7.5 MB instead of 10.8. The attention projections stay 8-bit: they are the smaller third
    and, in 4 bits too, cost a further 0.11-0.57 SST-2 dev points (w1_d1, task vocabulary, blocks of 64 / 32:
    89.22 vs 89.33, 88.65 vs 89.22) for 1.6 MB."""
    blocked = _nbits_then_dynamic(plain, scratch, final, 4, INT4_FFN_BLOCK, list(DYNAMIC_OPS), exclude=_not_ffn)
    return {"method": "int4ffn", "weights": f"feed-forward: int4 symmetric, blocks of {INT4_FFN_BLOCK} "
            "(MatMulNBits); other MatMuls: QInt8 per-channel", "activations": "dynamic uint8; int8 per block "
            "in the 4-bit MatMuls (accuracy_level 4)", "ops": list(DYNAMIC_OPS), "ffn_matmuls": blocked}


def nbits_count_correction(onnx_path: Path) -> int:
    """What to add to a stored-element count of ``onnx_path`` to count its ``MatMulNBits`` weights in
    parameters: K x N each (a K that is not a multiple of the block is padded in storage), their block scales
    not at all (the weights check compares the count with the sub-model's parameter count)."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {t.name: t for t in model.graph.initializer}
    correction = 0
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: a.i for a in node.attribute}
        stored = [int(np.prod(inits[name].dims)) for name in node.input[1:3] if name in inits]
        correction += attrs["K"] * attrs["N"] - sum(stored)
    return correction


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over tokenized examples (batch 1, own lengths)."""

    def __init__(self, inputs: Inputs):
        self._feeds = iter([{name: f[name] for name in inputs.names} for f in inputs.features])

    def get_next(self):
        return next(self._feeds, None)


def quantize_static_qdq(plain: Path, scratch: Path, final: Path, calibration: Inputs) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    clean = scratch / "static-input.onnx"
    prepped = scratch / "static-prepped.onnx"
    _without_value_info(plain, clean)
    with _quiet():
        # Symbolic shape inference cannot finish on BERT's dynamic reshapes; ONNX shape inference and the
        # graph clean-up of the pre-processing are what static quantization needs.
        quant_pre_process(str(clean), str(prepped), skip_symbolic_shape=True)
    with atomic_file(final) as tmp, _quiet():
        quantize_static(str(prepped), str(tmp), _Reader(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return {"method": "static", "format": "QDQ", "weights": "QInt8 per-channel", "activations": "QUInt8",
            "calibration": {"method": "MinMax", "n": len(calibration), "split": calibration.split}}

"""onnxruntime's transformer optimizer (attention / LayerNorm / GELU fusions), kept only where it is faster.

The fused graph is not always faster: with few heads per layer (the narrow sub-models) the fused
``Attention`` kernel can lose to the plain MatMul/Softmax graph that ONNX Runtime optimizes itself at
session creation. So both are timed on real inputs, each with the session settings of
:mod:`export.session_settings`, and the fastest (graph, settings) pair ships; the manifest records which.

``SkipLayerNormalization`` is never fused here (see :mod:`export.session_settings`): measured at seq 128,
1 thread (thread CPU time, same run) the fused graph with it was 1.44x slower than without it for
w0.25_d0.5 (3.53 vs 2.45 ms) and 1.12x for w1_d1 (18.9 vs 16.9 ms). Left out of the file, the session
can still fuse it at load, which the shipped settings then disable where that is measured faster.

INT8 files (:func:`choose_int8_graph`) start from the plain graph, never the fused one (see
:mod:`export.quantize`); their candidate is the plain graph with its attention as ``MultiHeadAttention``
nodes (:mod:`export.mha`), quantized the same way and timed against it the same way.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import onnx

from dynabert.fileio import atomic_file

from . import session_settings as S
from .inputs import Inputs


def fuse(plain: Path, final: Path) -> dict[str, int]:
    """Write the fused graph of ``plain`` to ``final``; return the fusion counts (``{}``: nothing fused)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False  # slower on CPU: see the module docstring
    options.enable_bias_skip_layer_norm = False
    logger = logging.getLogger("onnxruntime.transformers")
    level = logger.level
    # The fuser logs a warning per layer when the attention width differs from the hidden size, which is
    # every narrow sub-model by construction; num_heads=0/hidden_size=0 make it read both from the graph.
    logger.setLevel(logging.ERROR)
    try:
        model = optimize_model(str(plain), model_type="bert", num_heads=0, hidden_size=0, opt_level=0,
                               optimization_options=options)
    finally:
        logger.setLevel(level)
    stats = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    with atomic_file(final) as tmp:
        model.save_model_to_file(str(tmp))
    return stats


def _keep_fastest(graphs: dict[str, Path], final: Path, inputs: Inputs) -> dict:
    """Time every (graph, session settings) pair interleaved, the first graph with the default settings as the
    reference, and copy the graph of the fastest pair to ``final``; returns its name, the settings that ship
    with it and the timings (for the manifest)."""
    pairs = [(name, settings) for name in graphs for settings in S.CANDIDATES]
    feeds = [{name: f[name] for name in inputs.names} for f in inputs.features[:16]]
    ms = S.time_sessions([(graphs[g], settings) for g, settings in pairs], feeds)
    graph, settings = pairs[S.pick(ms)]
    with atomic_file(final) as tmp:
        shutil.copyfile(graphs[graph], tmp)
    return {"graph": graph,
            "latency_ms": {f"{g} {S.label(c)}": round(t, 4) for (g, c), t in zip(pairs, ms, strict=True)},
            "session_settings": {"settings": S.validate(settings), "chosen_by": S.how_timed(len(feeds), 7, 1)}}


def choose_graph(plain: Path, scratch: Path, final: Path, inputs: Inputs) -> dict:
    """Fuse ``plain`` (into ``scratch``), time both graphs under each candidate session setting, and leave
    the graph of the fastest pair at ``final``.

    Returns what was chosen and why, for the manifest: ``graph``, ``session_settings`` (the dict that
    ships with the file) and the timings.
    """
    fused = scratch / "fused.onnx"
    try:
        try:
            stats = fuse(plain, fused)
        except Exception as exc:  # a graph the fuser does not understand still ships, unfused
            stats, error = {}, f"{type(exc).__name__}: {exc}"
        else:
            error = None
        record: dict = {"fusions": stats}
        graphs = {"plain": plain}
        if error is not None or not stats:
            record.update(reason=error or "no fusion applied")
        else:
            graphs["fused"] = fused
        record.update(_keep_fastest(graphs, final, inputs))
        return record
    finally:
        fused.unlink(missing_ok=True)


def choose_int8_graph(plain: Path, scratch: Path, final: Path, inputs: Inputs,
                      extra_options: dict | None = None) -> dict:
    """Dynamic INT8 of ``plain`` and of ``plain`` with its attention as ``MultiHeadAttention`` nodes
    (:mod:`export.mha`), timed under each candidate session setting; the fastest pair is left at ``final``.

    Returns the quantizer's record with ``graph`` ("plain" or "mha"), ``mha_layers``, ``session_settings``
    and the timings. ``extra_options`` go to the quantizer (:func:`export.quantize.quantize_dynamic_int8`).
    """
    from .mha import write_mha_graph
    from .quantize import quantize_dynamic_int8

    attention = scratch / "mha.onnx"
    quantized = {"plain": scratch / "int8-plain.onnx", "mha": scratch / "int8-mha.onnx"}
    try:
        record = quantize_dynamic_int8(plain, scratch, quantized["plain"], extra_options)
        layers = write_mha_graph(plain, attention)
        record["mha_layers"] = layers
        graphs = {"plain": quantized["plain"]}
        if layers:
            # The contrib op's output has no type for ONNX shape inference: tell the quantizer it is fp32.
            quantize_dynamic_int8(attention, scratch, quantized["mha"],
                                  {"DefaultTensorType": onnx.TensorProto.FLOAT, **(extra_options or {})})
            graphs["mha"] = quantized["mha"]
        record.update(_keep_fastest(graphs, final, inputs))
        return record
    finally:
        for path in (attention, *quantized.values()):
            path.unlink(missing_ok=True)

"""onnxruntime's transformer optimizer (attention / LayerNorm / GELU fusions), kept only where it is faster.

The fused graph is not always faster: with few heads per layer (the narrow sub-models) the fused
``Attention`` kernel can lose to the plain MatMul/Softmax graph that ONNX Runtime optimizes itself at
session creation. So both are timed on real inputs, each with the session settings of
:mod:`export.session_settings`, and the fastest (graph, settings) pair ships; the manifest records which.

``SkipLayerNormalization`` is never fused here (see :mod:`export.session_settings`): measured at seq 128,
1 thread (thread CPU time, same run) the fused graph with it was 1.44x slower than without it for
w0.25_d0.5 (3.53 vs 2.45 ms) and 1.12x for w1_d1 (18.9 vs 16.9 ms). Left out of the file, the session
can still fuse it at load, which the shipped settings then disable where that is measured faster.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dynabert.fileio import atomic_file

from . import session_settings as S
from .inputs import Inputs

#: The fp32 graphs :func:`choose_graph` chooses between (the name the manifest records): traced, onnxruntime-fused.
GRAPHS = ("plain", "fused")


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
        graphs = {GRAPHS[0]: plain}
        if error is not None or not stats:
            record.update(reason=error or "no fusion applied")
        else:
            graphs[GRAPHS[1]] = fused
        # Every (graph, settings) pair, timed interleaved; plain with the default settings is the reference.
        pairs = [(name, settings) for name in graphs for settings in S.CANDIDATES]
        feeds = [{name: f[name] for name in inputs.names} for f in inputs.features[:16]]
        ms = S.time_sessions([(graphs[g], settings) for g, settings in pairs], feeds)
        best = S.pick(ms)
        graph, settings = pairs[best]
        record.update(graph=graph,
                      latency_ms={f"{g} {S.label(c)}": round(t, 4) for (g, c), t in zip(pairs, ms, strict=True)},
                      session_settings={"settings": S.validate(settings),
                                        "chosen_by": S.how_timed(len(feeds), 7, 1)})
        chosen = graphs[graph]
        with atomic_file(final) as tmp:
            shutil.copyfile(chosen, tmp)
        return record
    finally:
        fused.unlink(missing_ok=True)

"""onnxruntime's transformer optimizer (attention / LayerNorm / GELU fusions), kept only where it is faster.

The fused graph is not always faster: with few heads per layer (the narrow sub-models) the fused
``Attention`` kernel can lose to the plain MatMul/Softmax graph that ONNX Runtime optimizes itself at
session creation. So both are timed on real inputs and the faster one ships; the manifest records which.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from dynabert.fileio import atomic_file

from .inputs import Inputs
from .verify import ort_session


def fuse(plain: Path, final: Path) -> dict[str, int]:
    """Write the fused graph of ``plain`` to ``final``; return the fusion counts (``{}``: nothing fused)."""
    from onnxruntime.transformers.optimizer import optimize_model

    logger = logging.getLogger("onnxruntime.transformers")
    level = logger.level
    # The fuser logs a warning per layer when the attention width differs from the hidden size, which is
    # every narrow sub-model by construction; num_heads=0/hidden_size=0 make it read both from the graph.
    logger.setLevel(logging.ERROR)
    try:
        model = optimize_model(str(plain), model_type="bert", num_heads=0, hidden_size=0, opt_level=0)
    finally:
        logger.setLevel(level)
    stats = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    with atomic_file(final) as tmp:
        model.save_model_to_file(str(tmp))
    return stats


def latency_ms(path: Path, inputs: Inputs, rounds: int = 5, max_examples: int = 16) -> float:
    """Milliseconds per batch-1 inference on ``inputs`` with one thread (as on a phone core).

    The minimum over rounds of the mean per round: the least disturbed by other work on the machine.
    """
    session = ort_session(path, threads=1)
    feeds = [{name: f[name] for name in inputs.names} for f in inputs.features[:max_examples]]
    for feed in feeds[:4]:
        session.run(None, feed)  # warm-up: first runs allocate
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for feed in feeds:
            session.run(None, feed)
        best = min(best, (time.perf_counter() - start) / len(feeds))
    return best * 1000.0


def choose_graph(plain: Path, scratch: Path, final: Path, inputs: Inputs) -> dict:
    """Fuse ``plain`` (into ``scratch``), time both, and leave the faster one at ``final``.

    Returns what was chosen and why, for the manifest.
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
        if error is not None or not stats:
            record.update(graph="plain", reason=error or "no fusion applied")
            chosen = plain
        else:
            # Alternate the two so that background load hits both alike.
            times = {"plain": [], "fused": []}
            for _ in range(2):
                times["plain"].append(latency_ms(plain, inputs))
                times["fused"].append(latency_ms(fused, inputs))
            lat = {k: float(np.min(v)) for k, v in times.items()}
            graph = "fused" if lat["fused"] < lat["plain"] else "plain"
            record.update(graph=graph, latency_ms={k: round(v, 4) for k, v in lat.items()})
            chosen = fused if graph == "fused" else plain
        with atomic_file(final) as tmp:
            shutil.copyfile(chosen, tmp)
        return record
    finally:
        fused.unlink(missing_ok=True)

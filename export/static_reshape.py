"""Reshape targets as constants: drop the shape arithmetic a traced BERT recomputes on every run.

The TorchScript export of Hugging Face attention builds each head-split target at run time from the
input's shape (``Shape -> Gather -> Unsqueeze -> Concat``, three per layer for query, key and value, one
for the merged context). Those ops do not shrink with width or sequence length, so they weigh most in the
narrowest sub-models: measured on the SST-2 MiniLM w0.25_d1 INT8 file (seq 128, 1 thread, ORT profiler)
they were ~0.0125 ms per layer next to 0.02 ms for a query projection, and removing them made that file
4 % faster where w1_d1 INT8 gained 2 % (2.08 -> 1.99 ms, 5.95 -> 5.84 ms, one interleaved run:
docs/results/int8-speed-sst2-minilm-reshape.md). ONNX Runtime's session optimizer cannot
fold them (the batch dimension is dynamic), and onnxruntime.transformers' ``FusionReshape`` matches only the
merged-context pattern (two dynamic dims), not the query/key/value one (one dynamic dim and a -1).

The rule is read off ONNX Runtime's symbolic shape inference, not a pattern: a target dimension becomes
``0`` (ONNX: copy the input's dimension at that index) when inference proves it is the same symbol as the
input's, keeps its number when it is a constant, and at most one dimension that is neither becomes ``-1``.
A Reshape whose output shape inference cannot fully name is left as it is. The dead shape ops are removed.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _dims(value: onnx.ValueInfoProto) -> list[int | str] | None:
    """A tensor's inferred dims (int or symbol), or None when any is unknown."""
    if not value.type.tensor_type.HasField("shape"):
        return None
    dims: list[int | str] = []
    for d in value.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            return None
    return dims


def _target(data: list[int | str], out: list[int | str]) -> list[int] | None:
    """The constant Reshape target turning ``data`` dims into ``out`` dims, or None if it cannot be proven."""
    target: list[int] = []
    for j, dim in enumerate(out):
        if j < len(data) and dim == data[j] and isinstance(dim, str):
            target.append(0)
        elif isinstance(dim, int) and dim > 0:
            target.append(dim)
        else:
            target.append(-1)
    return target if target.count(-1) <= 1 else None


def _prune(graph: onnx.GraphProto) -> None:
    """Remove nodes nothing reads (a graph's nodes are stored in topological order)."""
    live = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(o in live for o in node.output):
            kept.append(node)
            live.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    # An initializer listed as a graph input too (older IR) is the input's default: never dropped.
    inputs = {i.name for i in graph.input}
    unused = [t for t in graph.initializer if t.name not in live and t.name not in inputs]
    for t in unused:
        graph.initializer.remove(t)


def make_reshapes_static(model: onnx.ModelProto) -> int:
    """Give every Reshape of ``model`` whose target shape inference can prove a constant target (in place);
    returns how many were changed. Subgraphs (If/Loop bodies) are left alone: a traced BERT has none."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.value_info[:]
    # auto_merge: where two symbols must broadcast (the position slice `Min(max_positions, sequence)` added to
    # `sequence`-long embeddings) take them as equal, which every input the model accepts satisfies. The loop
    # is SymbolicShapeInference.infer_shapes without its ending: on an incomplete inference that saves a
    # debug copy of the model into the working directory and raises, where a partial result serves here
    # (a Reshape whose shapes stayed unknown is left dynamic).
    try:
        inference = SymbolicShapeInference(2**31 - 1, True, False, 0)
        inference._preprocess(probe)
        while inference.run_:
            inference._infer_impl()
        inference._update_output_from_vi()
    except Exception:  # an op the inference does not know: the graph stays as traced, which is correct
        return 0
    inferred = inference.out_mp_
    shapes = {v.name: _dims(v) for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    constants = {t.name for t in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] in constants:
            continue
        if any(a.name == "allowzero" and a.i for a in node.attribute):
            continue  # with allowzero a 0 means an empty dimension, not "copy"
        data, out = shapes.get(node.input[0]), shapes.get(node.output[0])
        target = _target(data, out) if data is not None and out is not None else None
        if target is None:
            continue
        name = f"{node.name or node.output[0]}/static_shape"
        model.graph.initializer.append(numpy_helper.from_array(np.array(target, dtype=np.int64), name))
        node.input[1] = name
        changed += 1
    if changed:
        _prune(model.graph)
    return changed

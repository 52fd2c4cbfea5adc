"""Self-attention as one ``com.microsoft.MultiHeadAttention`` node per layer: an INT8 graph candidate.

The traced attention is ~12 small ops per layer (head-split ``Reshape``/``Transpose`` of query, key and
value, ``QK^T``, scale, mask ``Add``, ``Softmax``, ``xV``, merge ``Transpose``/``Reshape``) plus the mask
arithmetic. On ONNX Runtime's CPU provider one ``MultiHeadAttention`` node does the same, which weighs most
where each op has least work: measured on the SST-2 MiniLM INT8 files (seq 128, 1 thread, interleaved, this
dev box) the rewrite made w0.25_d1 2-8 % and w0.25_d0.75 2-3 % faster, and w1_d1 between 3 % slower and 2 %
faster. So it is never applied blindly: :func:`export.optimize.choose_int8_graph` times the quantized graph
with and without it and keeps the faster (the manifest records which).

Why not onnxruntime.transformers' fuser (``FusionOptions.use_multi_head_attention``): it moves the three
projection biases into the node's ``bias`` input and derives a 1-D sequence-length mask (``ReduceSum``),
which measured slower than the plain graph here (w1_d1 4 % slower, w0.25_d1 unchanged), and it does not
match the first-token last layer (:mod:`export.wrapper`), whose query is one token while key and value are
the whole sequence. Here the bias ``Add`` stays where the quantizer folds it into the MatMul, the mask is
the model's own ``attention_mask`` (``key_padding_mask``, any padding side), and that last layer is matched
like the others.

The match is structural, from each ``Softmax`` back to its inputs and forward to the merged context; a
layer that does not match exactly (other perms, a non-constant head split, a mask not built from
``attention_mask``) is left as traced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dynabert.fileio import atomic_file

from .static_reshape import prune_unused

DOMAIN = "com.microsoft"
MASK_INPUT = "attention_mask"
_MASK_INT32 = "attention_mask_int32"
#: Op types allowed between the ``attention_mask`` input and ``(1 - mask) * min``: rank and dtype changes.
_MASK_PASSTHROUGH = ("Unsqueeze", "Cast", "Reshape")


class _Graph:
    """Producers, consumers and constant values of a graph's tensors."""

    def __init__(self, graph: onnx.GraphProto):
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.constants = {t.name: t for t in graph.initializer}
        for n in graph.node:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.constants[n.output[0]] = n.attribute[0].t
        self.outputs = {o.name for o in graph.output}

    def value(self, name: str) -> np.ndarray | None:
        """The constant ``name`` holds (through ``Identity`` nodes: the exporter writes one per reuse of a
        deduplicated weight), or None."""
        while name not in self.constants and (node := self.op(name, "Identity")) is not None:
            name = node.input[0]
        tensor = self.constants.get(name)
        return None if tensor is None else numpy_helper.to_array(tensor)

    def op(self, name: str, op_type: str) -> onnx.NodeProto | None:
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def only_use(self, name: str) -> bool:
        return len(self.consumers.get(name, [])) == 1 and name not in self.outputs


def _scalar(value: np.ndarray | None) -> float | None:
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _perm(node: onnx.NodeProto) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _split_heads(g: _Graph, name: str, perm: list[int]) -> tuple[str, int, int] | None:
    """``Transpose(perm)(Reshape(x, [0, s, heads, size]))`` -> (x, heads, size); ``s`` is 0 (copy) or the
    sequence length as a constant (the first-token layer's query: 1)."""
    transpose = g.op(name, "Transpose")
    if transpose is None or _perm(transpose) != perm or not g.only_use(transpose.input[0]):
        return None
    reshape = g.op(transpose.input[0], "Reshape")
    target = None if reshape is None else g.value(reshape.input[1])
    if target is None or target.shape != (4,) or target[0] != 0 or target[1] < 0 or min(target[2:]) <= 0:
        return None
    return reshape.input[0], int(target[2]), int(target[3])


def _padding_mask(g: _Graph, name: str) -> float | None:
    """The fill value when ``name`` is ``(1 - attention_mask) * fill`` (fill <= -1e4) over rank/dtype changes."""
    mul = g.op(name, "Mul")
    if mul is None:
        return None
    for side in (0, 1):
        fill, sub = _scalar(g.value(mul.input[1 - side])), g.op(mul.input[side], "Sub")
        if fill is None or fill > -1e4 or sub is None or _scalar(g.value(sub.input[0])) != 1.0:
            continue
        source = sub.input[1]
        while source != MASK_INPUT:
            node = g.producer.get(source)
            if node is None or node.op_type not in _MASK_PASSTHROUGH:
                break
            source = node.input[0]
        if source == MASK_INPUT:
            return fill
    return None


def _match(g: _Graph, softmax: onnx.NodeProto) -> dict | None:
    """The pieces of one traced attention around ``softmax``, or None when it is not exactly that."""
    add = g.op(softmax.input[0], "Add")
    if add is None or not g.only_use(softmax.input[0]):
        return None
    for side in (0, 1):
        scaled, mask = add.input[side], add.input[1 - side]
        fill = _padding_mask(g, mask)
        scale_op = g.producer.get(scaled)
        if fill is not None and scale_op is not None and scale_op.op_type in ("Div", "Mul"):
            break
    else:
        return None
    factor = _scalar(g.value(scale_op.input[1]))
    if not factor or not g.only_use(scaled):
        return None
    scale = 1.0 / factor if scale_op.op_type == "Div" else factor
    scores = g.op(scale_op.input[0], "MatMul")
    if scores is None or not g.only_use(scale_op.input[0]):
        return None
    query = _split_heads(g, scores.input[0], [0, 2, 1, 3])
    key = _split_heads(g, scores.input[1], [0, 2, 3, 1])
    users = g.consumers.get(softmax.output[0], [])
    if query is None or key is None or len(users) != 1 or users[0].op_type != "MatMul" \
            or users[0].input[0] != softmax.output[0]:
        return None
    context = users[0]
    value = _split_heads(g, context.input[1], [0, 2, 1, 3])
    merge = g.consumers.get(context.output[0], [])
    if value is None or len(merge) != 1 or merge[0].op_type != "Transpose" or _perm(merge[0]) != [0, 2, 1, 3]:
        return None
    flat = g.consumers.get(merge[0].output[0], [])
    target = g.value(flat[0].input[1]) if len(flat) == 1 and flat[0].op_type == "Reshape" else None
    heads, size = query[1], query[2]
    if (key[1:], value[1:]) != ((heads, size), (heads, size)) or target is None or target.shape != (3,) \
            or target[0] != 0 or target[1] < 0 or target[2] != heads * size:
        return None
    return {"query": query[0], "key": key[0], "value": value[0], "heads": heads, "scale": scale, "fill": fill,
            "out": flat[0]}


def _projection(g: _Graph, name: str) -> tuple[onnx.NodeProto, onnx.NodeProto, np.ndarray, np.ndarray] | None:
    """``name = x @ W + b`` (``MatMul`` then ``Add``, ``W`` 2-D and ``b`` 1-D constants, nothing else reading the
    MatMul's output or ``name`` but the attention) -> (matmul, add, W, b)."""
    add = g.op(name, "Add")
    if add is None or not g.only_use(name):
        return None
    for side in (0, 1):
        matmul, bias = g.op(add.input[side], "MatMul"), g.value(add.input[1 - side])
        if matmul is not None and bias is not None and bias.ndim == 1 and g.only_use(add.input[side]):
            weight = g.value(matmul.input[1])
            if weight is not None and weight.ndim == 2 and weight.shape[1] == bias.shape[0]:
                return matmul, add, weight, bias
    return None


def _merged_projections(g: _Graph, m: dict, index: int) -> tuple[dict[int, list[onnx.NodeProto]],
                                                                  list[onnx.TensorProto]]:
    """One MatMul for the projections that read the same input (query, key and value; key and value in the
    first-token layer, whose query reads one token), split back into the tensors the attention reads.

    Why: with few heads each projection is a thin GEMM (N = 96 at width 0.25 of MiniLM); one of three times the
    width runs faster, and the quantizer gives each output column its own scale either way (per-channel), so
    the INT8 weights are the ones the separate MatMuls would get. Returns the node replacements (by ``id`` of
    the node replaced; an empty list removes it) and the new initializers (the quantizer quantizes only
    initializer weights); nothing where the projections are not plain MatMul + Add.
    """
    projections = [_projection(g, m[role]) for role in ("query", "key", "value")]
    if any(p is None for p in projections):
        return {}, []
    first = 0 if projections[0][0].input[0] == projections[1][0].input[0] else 1
    group = projections[first:]
    if any(p[0].input[0] != group[0][0].input[0] or p[2].shape != group[0][2].shape for p in group):
        return {}, []
    prefix = f"attention_{index}/merged_projection"
    weight = numpy_helper.from_array(np.concatenate([p[2] for p in group], axis=1), f"{prefix}/weight")
    bias = numpy_helper.from_array(np.concatenate([p[3] for p in group]), f"{prefix}/bias")
    nodes = [helper.make_node("MatMul", [group[0][0].input[0], weight.name], [f"{prefix}/MatMul_output"],
                              name=f"{prefix}/MatMul"),
             helper.make_node("Add", [f"{prefix}/MatMul_output", bias.name], [f"{prefix}/Add_output"],
                              name=f"{prefix}/Add"),
             # Opset 17 Split without sizes: equal parts, in order; the outputs keep the Adds' tensor names.
             helper.make_node("Split", [f"{prefix}/Add_output"], [p[1].output[0] for p in group], axis=-1,
                              name=f"{prefix}/Split")]
    # In place of the first projection's MatMul: its input exists there, every reader comes later.
    replacements = {id(group[0][0]): nodes}
    for matmul, add, *_ in group:
        replacements.setdefault(id(matmul), [])
        replacements[id(add)] = []
    return replacements, [weight, bias]


def fuse_multihead_attention(model: onnx.ModelProto) -> int:
    """Rewrite every matched self-attention of ``model`` into one ``MultiHeadAttention`` (in place); returns
    how many. The node's ``key_padding_mask`` is ``attention_mask`` cast to int32, once for all layers; the
    projections reading the same input become one MatMul (:func:`_merged_projections`)."""
    graph = model.graph
    if MASK_INPUT not in {i.name for i in graph.input}:
        return 0
    g = _Graph(graph)
    matches = [m for m in (_match(g, n) for n in graph.node if n.op_type == "Softmax") if m is not None]
    replaced: dict[int, list[onnx.NodeProto]] = {}
    for index, m in enumerate(matches):
        out = m["out"]
        merged, tensors = _merged_projections(g, m, index)
        replaced.update(merged)
        graph.initializer.extend(tensors)
        replaced[id(out)] = [helper.make_node("MultiHeadAttention", [m["query"], m["key"], m["value"], "", _MASK_INT32],
                                 list(out.output), name=f"{out.name or out.output[0]}/MultiHeadAttention",
                                 domain=DOMAIN, num_heads=m["heads"], scale=m["scale"],
                                 mask_filter_value=m["fill"])]
    if matches:
        cast = helper.make_node("Cast", [MASK_INPUT], [_MASK_INT32], name="attention_mask/Cast_int32",
                                to=onnx.TensorProto.INT32)
        # Each fused node takes the place of the Reshape it replaces: the graph stays topologically sorted.
        nodes = [cast] + [new for n in graph.node for new in replaced.get(id(n), [n])]
        del graph.node[:]
        graph.node.extend(nodes)
        if not any(o.domain == DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
        prune_unused(graph)
    return len(matches)


def write_mha_graph(plain: Path, final: Path) -> int:
    """``plain`` with its attention fused (:func:`fuse_multihead_attention`) at ``final``; returns the count
    (0: nothing matched, nothing written)."""
    model = onnx.load(str(plain))
    fused = fuse_multihead_attention(model)
    if fused:
        del model.graph.value_info[:]  # shapes of removed tensors; recomputed by whoever needs them
        with atomic_file(final) as tmp:
            onnx.save(model, str(tmp))
    return fused

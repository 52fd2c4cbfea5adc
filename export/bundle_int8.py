"""The INT8 bundle: the full network quantized once, every entry reading its part of the same bytes.

The standalone INT8 files come from onnxruntime's ``quantize_dynamic`` (:mod:`export.quantize`): int8
weights per output channel (symmetric) for every MatMul, the embedding tables uint8 per tensor, activations
quantized at run time. That tool quantizes one graph's own initializers and writes them into that graph; it
cannot make twelve graphs read one set of quantized bytes, so this module emits the same operator pattern
itself (``DynamicQuantizeLinear`` -> ``MatMulInteger`` -> ``Cast`` -> ``Mul`` by input scale x weight
scale, which ONNX Runtime fuses into its ``DynamicQuantizeMatMul`` kernel at load; ``Gather`` of the uint8
table -> ``DequantizeLinear``) and computes the scales with the quantizer's own arithmetic
(``onnxruntime.quantization.quant_utils.quantize_data``), once, on the full network's tensors.

Scales of sliced matrices. Each full matrix is quantized per *output* channel over its *whole* input range:

- output-sliced matrices (q/k/v, FFN in: a sub-network keeps fewer output channels) are stored
  [out, in]; a sub-network reads the first rows and the first scales: exactly what quantizing the slice
  alone would give;
- input-sliced matrices (attention output, FFN out: a sub-network keeps fewer input rows) are stored
  [in, out]; a sub-network reads the first rows and *all* the scales, which were set by the largest
  weight of each output channel over all inputs, including those the sub-network drops. Its scale can
  therefore be coarser than that of its standalone file (never finer). What this costs is measured per
  entry: ``vs_standalone`` in ``bundle.json`` and the argmax agreement with PyTorch (the INT8 gate).

Zero points are all zero (symmetric) and are left out (``MatMulInteger``'s ``b_zero_point`` is optional),
which the standalone files store as one byte per channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle_index import WEIGHTS_FILE, BundleError
from .bundle_plan import Plan
from .bundle_weights import WeightsWriter, save_graph

MATRIX, TABLE, FLOAT = "matrix", "table", "fp32"


@dataclass(frozen=True)
class Use:
    kind: str  # MATRIX (a MatMul/Gemm weight), TABLE (a Gather table) or FLOAT (kept fp32)
    out_axis: int | None = None  # MATRIX: the output-channel axis in stored orientation


def _attr(node, name: str, default):
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _weight_use(node, index: int, transpose: bool) -> Use | None:
    """How ``node`` uses its ``index``-th input when that is a bundle weight; None: as a plain fp32 tensor."""
    if node.op_type == "MatMul" and index == 1:
        # MatMul B is [in, out]; stored = B.T when the graph transposes the stored prefix.
        return Use(MATRIX, 0 if transpose else 1)
    if node.op_type == "Gemm" and index == 1:
        if _attr(node, "transA", 0) or _attr(node, "alpha", 1.0) != 1.0 or _attr(node, "beta", 1.0) != 1.0:
            return None
        effective_transpose = transpose != bool(_attr(node, "transB", 0))
        return Use(MATRIX, 0 if effective_transpose else 1)
    if node.op_type == "Gather" and index == 0 and not transpose:
        return Use(TABLE)
    return None


def weight_uses(plan: Plan) -> dict[str, Use]:
    """One quantization per full tensor: how every entry's graph uses it must agree (else refused)."""
    uses: dict[str, Use] = {}
    for entry in plan.entries:
        for node in entry.graph.graph.node:
            for index, name in enumerate(node.input):
                ref = entry.refs.get(name)
                if ref is None:
                    continue
                use = _weight_use(node, index, ref.transpose) or Use(FLOAT)
                if uses.setdefault(ref.key, use) != use:
                    raise BundleError(f"{entry.name}: {node.op_type} node {node.name!r} uses {ref.key} as {use}, "
                                      f"another graph as {uses[ref.key]}: one quantization cannot serve both")
    return uses


def quantize_matrix(array: np.ndarray, out_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel, with onnxruntime's arithmetic; (int8 array, fp32 scales)."""
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    channels = array if out_axis == 0 else array.T
    q = np.empty(channels.shape, dtype=np.int8)
    scales = np.empty(channels.shape[0], dtype=np.float32)
    for i, row in enumerate(channels):
        _, scale, q[i] = quantize_data(np.ascontiguousarray(row), TensorProto.INT8, symmetric=True)
        scales[i] = scale
    return (q if out_axis == 0 else np.ascontiguousarray(q.T)), scales


def quantize_table(array: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """uint8 per tensor, asymmetric: what quantize_dynamic does to Gather tables (export.quantize)."""
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    zero_point, scale, q = quantize_data(array.ravel(), TensorProto.UINT8, symmetric=False)
    return q.reshape(array.shape).astype(np.uint8), np.float32(scale), np.uint8(zero_point)


def write_int8(plan: Plan, folder: Path) -> dict[str, str]:
    """Write the quantized ``weights.bin`` and one graph per entry; entry name -> graph file."""
    uses = weight_uses(plan)
    writer = WeightsWriter(folder / WEIGHTS_FILE)
    tables: dict[str, tuple[np.float32, np.uint8]] = {}
    try:
        for key, stored in plan.stored.items():
            use = uses.get(key, Use(FLOAT))
            if use.kind == MATRIX:
                q, scales = quantize_matrix(stored.array, use.out_axis)
                writer.add(key, q)
                writer.add(f"{key}.scale", scales)
            elif use.kind == TABLE:
                q, scale, zero_point = quantize_table(stored.array)
                writer.add(key, q)
                tables[key] = (scale, zero_point)
            else:
                writer.add(key, stored.array)
    finally:
        writer.close()
    graphs = {}
    for entry in plan.entries:
        graphs[entry.name] = f"{entry.name}.onnx"
        save_graph(_entry_graph(entry, uses, writer, tables), folder / graphs[entry.name])
    return graphs


def _entry_graph(entry, uses: dict[str, Use], writer: WeightsWriter, tables: dict):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(entry.graph)
    graph = model.graph
    prologue: list = []  # Transposes of stored weights (constants: ORT folds them at load)
    body: list = []
    initializers: dict[str, object] = {}
    quantized_inputs: dict[str, tuple[str, str, str]] = {}

    def add_init(tensor) -> str:
        initializers.setdefault(tensor.name, tensor)
        return tensor.name

    def stored(name: str, key: str, rows: int | None, transpose: bool) -> str:
        """``name`` in graph orientation: the stored prefix, transposed by a constant node if needed."""
        if not transpose:
            return add_init(writer.ref(key, name, rows))
        add_init(writer.ref(key, f"{name}.stored", rows))
        if name not in {n.output[0] for n in prologue}:
            prologue.append(helper.make_node("Transpose", [f"{name}.stored"], [name], name=f"{name}.transpose"))
        return name

    def quantized(x: str) -> tuple[str, str, str]:
        # One DynamicQuantizeLinear per activation, shared by every MatMul that reads it (q, k and v).
        if x not in quantized_inputs:
            outs = (f"{x}.quantized", f"{x}.scale", f"{x}.zero_point")
            body.append(helper.make_node("DynamicQuantizeLinear", [x], list(outs), name=f"{x}.DynamicQuantizeLinear"))
            quantized_inputs[x] = outs
        return quantized_inputs[x]

    def matmul(node, x: str, weight: str, output: str, effective_transpose: bool) -> None:
        ref = entry.refs[weight]
        use = uses[ref.key]
        xq, xs, xzp = quantized(x)
        b = stored(f"{weight}.int8", ref.key, ref.rows, effective_transpose)
        # Output channels on the stored rows: the entry keeps the first ones (a prefix of the scales);
        # on the stored columns: the entry keeps every output channel and reads all scales.
        scale = add_init(writer.ref(f"{ref.key}.scale", f"{weight}.scale", ref.rows if use.out_axis == 0 else None))
        n = node.name or output
        body.extend([
            helper.make_node("MatMulInteger", [xq, b, xzp], [f"{n}.int32"], name=f"{n}.MatMulInteger"),
            helper.make_node("Cast", [f"{n}.int32"], [f"{n}.float"], name=f"{n}.Cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [xs, scale], [f"{n}.scales"], name=f"{n}.scales_mul"),
            helper.make_node("Mul", [f"{n}.float", f"{n}.scales"], [output], name=f"{n}.Mul"),
        ])

    def weight_kind(node, index: int) -> str | None:
        if index >= len(node.input) or node.input[index] not in entry.refs:
            return None
        return uses[entry.refs[node.input[index]].key].kind

    for node in graph.node:
        refs = [(i, name) for i, name in enumerate(node.input) if name in entry.refs]
        if node.op_type == "MatMul" and weight_kind(node, 1) == MATRIX:
            matmul(node, node.input[0], node.input[1], node.output[0], entry.refs[node.input[1]].transpose)
            refs = [(i, name) for i, name in refs if i != 1]
        elif node.op_type == "Gemm" and weight_kind(node, 1) == MATRIX:
            has_bias = len(node.input) > 2 and node.input[2]
            product = f"{node.output[0]}.matmul" if has_bias else node.output[0]
            effective = entry.refs[node.input[1]].transpose != bool(_attr(node, "transB", 0))
            matmul(node, node.input[0], node.input[1], product, effective)
            if has_bias:
                body.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]],
                                             name=f"{node.name or node.output[0]}.bias"))
            refs = [(i, name) for i, name in refs if i != 1]
        elif node.op_type == "Gather" and weight_kind(node, 0) == TABLE:
            ref = entry.refs[node.input[0]]
            scale, zero_point = tables[ref.key]
            table = stored(f"{node.input[0]}.uint8", ref.key, ref.rows, False)
            add_init(numpy_helper.from_array(np.array(scale, dtype=np.float32), f"{node.input[0]}.scale"))
            add_init(numpy_helper.from_array(np.array(zero_point, dtype=np.uint8), f"{node.input[0]}.zero_point"))
            gathered = f"{node.output[0]}.uint8"
            body.append(helper.make_node("Gather", [table, node.input[1]], [gathered], name=node.name,
                                         axis=_attr(node, "axis", 0)))
            body.append(helper.make_node("DequantizeLinear", [gathered, f"{node.input[0]}.scale",
                                                              f"{node.input[0]}.zero_point"], [node.output[0]],
                                         name=f"{node.name or node.output[0]}.DequantizeLinear"))
            refs = [(i, name) for i, name in refs if i != 0]
        else:
            body.append(node)
        for _, name in refs:  # biases, LayerNorms: fp32 ranges of the same file
            ref = entry.refs[name]
            stored(name, ref.key, ref.rows, ref.transpose)
    del graph.node[:]
    graph.node.extend(prologue + body)
    graph.initializer.extend(initializers.values())
    return model

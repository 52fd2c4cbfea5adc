"""The bundle's one weights file and the ONNX external-data references that point into it.

Every graph of a bundle refers to ``weights.bin`` through stock ONNX external data (``location``,
``offset``, ``length``), which any ONNX Runtime resolves relative to the graph's folder: no custom loader,
no Slice nodes, no copies on disk. Offsets are aligned so that ONNX Runtime can memory-map the large
tensors instead of reading them (it maps an external initializer only when its offset is a multiple of the
page size, 4 KiB off Windows; see its ``ModelSavingOptions``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .bundle_index import WEIGHTS_FILE

#: Tensors of at least this many bytes start on a page boundary (memory-mappable); smaller ones (biases,
#: LayerNorms, scales: a few KiB each) on a cache line, so alignment costs < 1% of a MiniLM bundle.
PAGE_ALIGN_FROM = 64 * 1024
PAGE = 4096
LINE = 64


class WeightsWriter:
    """Appends arrays to ``weights.bin`` and remembers where each one starts."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = open(path, "wb")
        self.offsets: dict[str, int] = {}
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, key: str, array: np.ndarray) -> int:
        if key in self.offsets:
            raise ValueError(f"{key} is already in {self.path.name}")
        array = np.ascontiguousarray(array)
        data = array.tobytes()  # little-endian on every platform ONNX Runtime ships for
        align = PAGE if len(data) >= PAGE_ALIGN_FROM else LINE
        position = self._fh.tell()
        pad = -position % align
        self._fh.write(b"\0" * pad)
        self.offsets[key] = position + pad
        self.arrays[key] = array
        self._fh.write(data)
        return self.offsets[key]

    def close(self) -> int:
        size = self._fh.tell()
        self._fh.close()
        return size

    def ref(self, key: str, name: str, rows: int | None = None):
        """A TensorProto named ``name`` holding the first ``rows`` rows (all: None) of the stored ``key``."""
        array = self.arrays[key]
        rows = array.shape[0] if rows is None or array.ndim == 0 else rows
        dims = [rows, *array.shape[1:]] if array.ndim else []
        row_bytes = array.itemsize * (int(np.prod(array.shape[1:])) if array.ndim > 1 else 1)
        length = row_bytes * rows if array.ndim else array.itemsize
        return external_tensor(name, array.dtype, dims, self.offsets[key], length)


def external_tensor(name: str, dtype: np.dtype, dims: list[int], offset: int, length: int):
    import onnx
    from onnx import helper

    tensor = onnx.TensorProto()
    tensor.name = name
    tensor.data_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    tensor.dims.extend(int(d) for d in dims)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", WEIGHTS_FILE), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def compact(model) -> None:
    """Give every internal tensor a short name and drop node names and doc strings.

    The traced names (``/encoder/layer.0/attention/self/Reshape_3_output_0``) are most of a graph's bytes
    once its weights are out: twelve graphs of them would cost a MiniLM bundle ~5% of its size. Inputs and
    outputs keep their names (the app feeds them); ONNX Runtime needs no other name.
    """
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    short: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in keep:
            return name
        if name not in short:
            n, digits = len(short), ""
            while True:
                n, r = divmod(n, 36)
                digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
                if n == 0:
                    break
            short[name] = digits
        return short[name]

    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
        tensor.doc_string = ""
    for node in graph.node:
        if any(attr.g.node or attr.graphs for attr in node.attribute):
            raise ValueError(f"{node.op_type} node {node.name!r} has a subgraph; bundle graphs are flat")
        node.name, node.doc_string = "", ""
        for field in (node.input, node.output):
            renamed = [rename(x) for x in field]
            del field[:]
            field.extend(renamed)
    for info in graph.value_info:
        info.name = rename(info.name)
        info.doc_string = ""
    graph.doc_string = ""


def save_graph(model, path: Path) -> None:
    """Write ``model`` compacted (its external references untouched) and check it with the ONNX checker,
    which also checks that every reference stays inside the folder and within the weights file."""
    import onnx

    # Fresh shapes for every intermediate (the traced ones are stale once weights are rewired, and the new
    # quantization nodes have none): ONNX Runtime's fusions (SkipLayerNormalization) check them.
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    compact(model)
    path.write_bytes(model.SerializeToString())
    onnx.checker.check_model(str(path))

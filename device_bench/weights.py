"""What a model file's bytes are spent on: embeddings, encoder, head; and the vocabulary it accepts.

Read from the file itself, not from the manifest, so the table shows what actually ships: the stored
tensors of ``.onnx`` (initializers and Constant nodes), ``.ort`` (ONNX Runtime's flatbuffer) and ``hf/``
(safetensors), each put in a part by its name or, for anonymous ones (``onnx::MatMul_270``, fused
``Attention_0_qkv_weight``), by the names of the nodes that read it (torch's exporter names nodes after
modules: ``/encoder/layer.0/attention/...``). Core ML and ExecuTorch files give ``None`` (their weights are
not named after modules once lowered). Headers, graph structure and integer shape data are not in any part,
so the parts add up to a little less than the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PARTS = ("embeddings", "encoder", "head", "other")


def part_of(names: list[str]) -> str:
    """The part a tensor belongs to, from its own name first, then its readers' names."""
    for name in names:
        text = name.lower()
        if "embed" in text:  # word/position/token-type tables, their LayerNorm, EmbedLayerNormalization
            return "embeddings"
        if "pooler" in text or "classifier" in text:
            return "head"
        if "encoder" in text or "layer." in text or "attention" in text or "skiplayernorm" in text:
            return "encoder"
    return "other"


def _record(tensors: list[tuple[list[str], int, list[int], bool]]) -> dict:
    """``tensors``: (names, bytes, dims, is_shape_data) -> the file's split and vocabulary size."""
    split = dict.fromkeys(PARTS, 0)
    vocab = None
    for names, nbytes, dims, shape_data in tensors:
        if shape_data:
            continue
        split[part_of(names)] += nbytes
        if "word_embeddings" in names[0] and len(dims) == 2 and vocab is None:
            vocab = int(dims[0])
    return {"vocab_size": vocab, **{f"bytes_{part}": n for part, n in split.items()}}


def _onnx(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    readers: dict[str, list[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.name)
    tensors = [(t, [t.name, *readers.get(t.name, [])]) for t in model.graph.initializer]
    tensors += [(attr.t, [out for out in node.output] + [node.name]) for node in model.graph.node
                if node.op_type == "Constant" for attr in node.attribute if attr.name == "value"]
    rows = []
    for tensor, names in tensors:
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        count = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
        nbytes = len(tensor.raw_data) if tensor.raw_data else count * itemsize
        shape_data = tensor.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
        rows.append((names, nbytes, list(tensor.dims), shape_data))
    return _record(rows)


def _ort(path: Path) -> dict:
    import onnx
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs.InferenceSession import InferenceSession

    graph = InferenceSession.GetRootAs(Path(path).read_bytes(), 0).Model().Graph()
    readers: dict[str, list[str]] = {}
    for i in range(graph.NodesLength()):
        node = graph.Nodes(i)
        for j in range(node.InputsLength()):
            readers.setdefault(node.Inputs(j).decode(), []).append(node.Name().decode())
    rows = []
    for i in range(graph.InitializersLength()):
        tensor = graph.Initializers(i)
        name = tensor.Name().decode()
        dims = [tensor.Dims(j) for j in range(tensor.DimsLength())]
        rows.append(([name, *readers.get(name, [])], tensor.RawDataLength(), dims,
                     tensor.DataType() in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)))
    return _record(rows)


def _safetensors(folder: Path) -> dict:
    import json
    import struct

    rows = []
    for file in sorted(folder.glob("*.safetensors")):
        with open(file, "rb") as fh:  # the header alone: 8-byte length, then JSON (no tensor is loaded)
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            rows.append(([name], end - start, info["shape"], info["dtype"] in ("I64", "I32")))
    return _record(rows)


def weight_split(path: str | Path) -> dict | None:
    """``{"vocab_size", "bytes_embeddings", "bytes_encoder", "bytes_head", "bytes_other"}``, or None for a
    format whose tensors are not named (Core ML, ExecuTorch)."""
    path = Path(path)
    if path.is_dir() and list(path.glob("*.safetensors")):
        return _safetensors(path)
    if path.suffix == ".onnx":
        return _onnx(path)
    if path.suffix == ".ort":
        return _ort(path)
    return None

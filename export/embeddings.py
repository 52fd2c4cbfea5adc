"""Cut the embedding tables of the full model before any sub-model is sliced out of it.

No width or depth multiplier touches the embeddings, so on small sub-models they are most of the file:

* :func:`keep_word_rows` keeps the word-embedding rows of a task vocabulary (:mod:`export.vocab`), in the
  new ids' order, and sets ``config.vocab_size``;
* :func:`cut_positions` keeps the position rows the exported files can reach (``--max-length``) and sets
  ``config.max_position_embeddings``, so a sliced ``hf/`` folder reloads with stock transformers.

Both edit the wrapped Hugging Face model in place; every sub-model (and so every format) is cut from it.
transformers' ``resize_token_embeddings`` only truncates or appends rows, it cannot keep a subset in a
new order, and has nothing for the position table: hence the small hand-written edits here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel


def position_rows(config, max_length: int) -> int:
    """Rows of the position table that inputs of up to ``max_length`` tokens use.

    RoBERTa numbers positions from ``pad_token_id + 1`` (the rows below are never looked up by a token).
    """
    if config.model_type == "roberta":
        return max_length + config.pad_token_id + 1
    return max_length


def keep_word_rows(hf: PreTrainedModel, kept: Sequence[int], pad_token_id: int | None) -> None:
    """Keep rows ``kept`` (old ids, in the new ids' order) of the word-embedding table."""
    old = hf.get_input_embeddings()
    index = torch.as_tensor(list(kept), dtype=torch.long)
    if index.numel() == 0 or int(index.max()) >= old.num_embeddings or int(index.min()) < 0:
        raise ValueError(f"kept ids must lie in 0..{old.num_embeddings - 1}")
    new = nn.Embedding(index.numel(), old.embedding_dim, padding_idx=pad_token_id,
                       dtype=old.weight.dtype, device=old.weight.device)
    with torch.no_grad():
        new.weight.copy_(old.weight[index])
    hf.set_input_embeddings(new)
    hf.config.vocab_size = index.numel()
    if pad_token_id is not None:
        hf.config.pad_token_id = pad_token_id


def cut_positions(hf: PreTrainedModel, rows: int) -> None:
    """Keep the first ``rows`` rows of the position table (and of the buffers sized by it)."""
    embeddings = hf.base_model.embeddings
    old = embeddings.position_embeddings
    if not 1 <= rows <= old.num_embeddings:
        raise ValueError(f"position rows must be between 1 and {old.num_embeddings}, got {rows}")
    if rows == old.num_embeddings:
        return
    new = nn.Embedding(rows, old.embedding_dim, padding_idx=old.padding_idx, dtype=old.weight.dtype,
                       device=old.weight.device)
    with torch.no_grad():
        new.weight.copy_(old.weight[:rows])
    embeddings.position_embeddings = new
    # Non-persistent buffers sized by the table: the default position ids and (BERT) token type ids.
    for name in ("position_ids", "token_type_ids"):
        buffer = getattr(embeddings, name, None)
        if isinstance(buffer, torch.Tensor) and buffer.dim() == 2 and buffer.shape[1] > rows:
            setattr(embeddings, name, buffer[:, :rows].clone())
    hf.config.max_position_embeddings = rows


# ---------------------------------------------------------------------------------------------- 4-bit word table

#: Values per scale along the hidden axis; 32 keeps the INT8 gate on MiniLM-size tables, and fp32 scales add
#: 4/32 = 0.125 byte a value to the 0.5 byte of the 4-bit data.
INT4_BLOCK_SIZE = 32
INT4_SCALES_SUFFIX = "_int4_scales"
INT4_DATA_SUFFIX = "_int4"


def _int4_blocks(table: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 4-bit block quantization along axis 1: (packed uint8 data of shape (rows, ceil(cols / 2)),
    fp32 scales of shape (rows, blocks)).

    The layout is ONNX Runtime's GatherBlockQuantized with uint8 data and ``bits=4``: each value stored as
    q + 8 (the op's default zero point), two a byte along a row, low nibble first; a block's scale is its
    value of largest magnitude over -8. uint8 rather than the INT4 tensor type because ORT's ``.ort`` format
    rejects INT4 tensors (1.31). onnxruntime.quantization has the arithmetic in matmul_nbits_quantizer, but
    that module needs onnx-ir, which this project does not install; it is restated here in numpy.
    """
    rows, cols = table.shape
    blocks = -(-cols // block_size)
    padded = np.zeros((rows, blocks * block_size), dtype=np.float32)
    padded[:, :cols] = table
    grouped = padded.reshape(rows, blocks, block_size)
    hi, lo = grouped.max(axis=2, keepdims=True), grouped.min(axis=2, keepdims=True)
    extreme = np.where(np.abs(hi) > np.abs(lo), hi, lo)
    scales = extreme / -8.0
    safe = np.where(scales == 0, 1.0, scales)
    quantized = np.where(scales == 0, 0, np.round(grouped / safe)).clip(-8, 7).astype(np.int16)
    unsigned = (quantized.reshape(rows, -1)[:, :cols] + 8).astype(np.uint8)
    if cols % 2:
        unsigned = np.pad(unsigned, ((0, 0), (0, 1)), constant_values=8)
    packed = unsigned[:, 0::2] | (unsigned[:, 1::2] << 4)
    return packed.astype(np.uint8), scales.reshape(rows, blocks).astype(np.float32)


def quantize_word_embeddings_int4(src: Path, dst: Path, block_size: int = INT4_BLOCK_SIZE) -> dict:
    """Copy the ONNX graph ``src`` to ``dst`` with its word-embedding ``Gather`` replaced by a 4-bit
    ``com.microsoft.GatherBlockQuantized`` (ONNX Runtime contrib op, CPU, since 1.20); return what changed."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    inits = {t.name: t for t in model.graph.initializer}
    gathers = [n for n in model.graph.node if n.op_type == "Gather" and n.input[0] in inits
               and "word_embeddings" in n.input[0]]
    if len(gathers) != 1:
        raise RuntimeError(f"expected one word-embedding Gather in {src.name}, found {len(gathers)}")
    node = gathers[0]
    weight = inits[node.input[0]]
    table = numpy_helper.to_array(weight).astype(np.float32)
    packed, scales = _int4_blocks(table, block_size)
    data = numpy_helper.from_array(packed, weight.name + INT4_DATA_SUFFIX)
    scale = numpy_helper.from_array(scales, weight.name + INT4_SCALES_SUFFIX)
    replacement = helper.make_node("GatherBlockQuantized", [data.name, node.input[1], scale.name], list(node.output),
                                   name=(node.name or "word_embeddings") + "_int4", domain="com.microsoft",
                                   gather_axis=0, quantize_axis=1, block_size=block_size, bits=4)
    nodes = list(model.graph.node)
    nodes[nodes.index(node)] = replacement
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    if not any(weight.name in n.input for n in nodes):
        model.graph.initializer.remove(weight)
    model.graph.initializer.extend([data, scale])
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dst))
    return {"op": "com.microsoft.GatherBlockQuantized", "bits": 4, "block_size": block_size, "symmetric": True,
            "storage": "uint8, two values a byte", "table": list(table.shape), "scales": int(scales.size)}


def int4_count_correction(onnx_path: Path) -> int:
    """What to add to a stored-element count of ``onnx_path`` to count its 4-bit tables in parameters.

    A packed table stores rows x cols values in rows x cols/2 bytes, and its block scales are not model
    parameters (the weights check compares the count with the sub-model's parameter count).
    """
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    correction = 0
    for node in model.graph.node:
        if node.op_type == "GatherBlockQuantized":
            inits = {t.name: t for t in model.graph.initializer}
            data, scales = inits[node.input[0]], inits[node.input[2]]
            values = 2 * int(np.prod(data.dims))  # two 4-bit values a byte (an odd row count pads one)
            correction += values - int(np.prod(data.dims)) - int(np.prod(scales.dims))
    return correction



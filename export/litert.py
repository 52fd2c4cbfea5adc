"""LiteRT (``.tflite``): fp32 through litert-torch, dynamic-range INT8 through ai-edge-quantizer.

The runner that opens these files, and the bucket layout both sides share, are in :mod:`dynabert.litert_runner`.

The graph is the one every exporter traces (:class:`export.wrapper.ExportWrapper`) with int32 inputs
(``input_ids``, ``attention_mask``[, ``token_type_ids``]; LiteRT has no int64 tensors on most delegates, and
litert-torch downcasts them anyway) and one float32 output, the logits.

**Fixed shapes, one per length bucket.** litert-torch 0.10 cannot convert a dynamic sequence axis: its
default lowering routes ops through a JAX bridge that rejects symbolic dimensions (its own test suite says
so in ``test_compiled_model.py``; a ``torch.export.Dim`` on the sequence fails on BERT's position-id slice,
and on ``arange``/``cumsum`` rewrites of it), and a static-shape ``.tflite`` cannot be resized (its reshape
ops carry the length as constants). So the file has one signature ``seq<L>`` per bucket length ``L``
(:func:`buckets`: 16, 32, 64, ... below ``max_length``, and ``max_length``), all sharing one copy of the
weights (a second signature adds 0.3% to an fp32 MiniLM file). :class:`LiteRTSession` runs an input in
the smallest bucket that holds it, padded on the right with ``attention_mask`` 0 (the masked positions
cannot change the ``[CLS]``-pooled logits: exp(-1e4) is 0 in fp32), and refuses one longer than
``max_length``. Latency therefore steps with the bucket, as it would in an app using the same file.

**INT8** is ai-edge-quantizer's ``dynamic_wi8_afp32`` recipe: int8 per-channel weights, fp32 activations
(quantized on the fly inside the kernels), the TFLite counterpart of ONNX Runtime's dynamic INT8.
**INT8 with 4-bit tables** (``litert-int4emb``, opt-in) adds the same quantizer's ``dynamic_wi4b32_afp32``
recipe on the ``EMBEDDING_LOOKUP`` ops (4-bit blocks of :data:`INT4_BLOCK` per table row); LiteRT's own
interpreter runs them (checked in tests/test_litert.py).
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dynabert.fileio import atomic_file
from dynabert.litert_runner import (  # noqa: F401  (the runner and the file layout are core; re-exported here)
    FIRST_BUCKET,
    PAD_ID,
    SIGNATURE_PREFIX,
    LiteRTSession,
    buckets,
    unavailable_reason,
)
from dynabert.quiet import native_stderr_silenced


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The converter and the quantizer print progress bars, size summaries and C++ INFO logs on every call;
    # the pipeline prints its own progress, and errors still raise.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            native_stderr_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def export_litert(hf_model, names: list[str], max_length: int, final: Path) -> dict:
    """Convert ``hf_model`` (a sliced classifier loaded with :func:`export.wrapper.load_eager`) to an fp32
    ``.tflite`` at ``final``: one signature per bucket (:func:`buckets`), each taking ``names`` as int32
    ``[1, bucket]`` and returning the logits; returns the manifest's details."""
    import torch

    from .wrapper import ExportWrapper  # here, not at the top: the runner must not import torch (RSS)

    with _quiet():  # importing it loads jaxlib and the converter, which log to fd 2
        import litert_torch

    module = ExportWrapper(hf_model, with_token_types="token_type_ids" in names, cast_ids=True).eval()
    lengths = buckets(max_length)
    converter = litert_torch.Converter()
    for length in lengths:
        # An all-ones mask is fine for tracing: the mask is data in this graph (no branch on it, see wrapper).
        example = {n: torch.full((1, length), 1000 if n == "input_ids" else 1, dtype=torch.int32) for n in names}
        converter.signature(f"{SIGNATURE_PREFIX}{length}", module, sample_kwargs=example)
    start = time.perf_counter()
    with torch.no_grad(), _quiet():
        edge = converter.convert()
    seconds = time.perf_counter() - start
    with atomic_file(final) as tmp, _quiet():
        edge.export(str(tmp))
    return {"converter": f"litert-torch {litert_torch.__version__}", "batch": 1, "buckets": lengths,
            "shape": "one fixed-shape signature per bucket (seq<L>); inputs are padded with attention_mask 0 "
                     "to the smallest bucket that holds them", "input_dtype": "int32",
            "convert_seconds": round(seconds, 3)}


#: Values per scale of the 4-bit embedding tables (as ONNX's GatherBlockQuantized and Core ML's files).
INT4_BLOCK = 32


def layer_scope(index: int, num_layers: int) -> str:
    """A regex for the output names of the linear ops of encoder layer ``index`` in a litert-torch file.

    litert-torch names an op's output after the modules it came from, ``Class_attribute`` per module, and
    fuses the names of ops it merged with ``;;`` (layer 2's key projection: ``...BertLayer_1/.../LayerNorm_
    LayerNorm;;...BertLayer_2/.../Linear_key;;...BertLayer_2/.../Linear_query;1``, each class name qualified
    by its module path): the op's own module is the first ``Linear_`` in the name. The last layer runs through
    :func:`export.wrapper.first_token_layer`, which calls the layer's attention and feed-forward blocks, not
    the layer: its names have no ``Layer_<i>``.
    """
    if index == num_layers - 1:
        block = r"[\w.]+_(?:attention|intermediate|output)/"
    else:
        block = rf"[\w.]+Layer_{index}/"
    return rf"^(?:(?!Linear_).)*ExportWrapper/{block}[^;]*Linear_"


def quantize_litert_int8(source: Path, final: Path, embeddings_int4: bool = False, fp32_layers: tuple[int, ...] = (),
                         num_layers: int = 0) -> dict:
    """Dynamic-range INT8 of the fp32 ``.tflite`` at ``source`` (int8 per-channel weights, fp32 activations);
    with ``embeddings_int4`` the embedding tables (``EMBEDDING_LOOKUP``) in 4-bit blocks of :data:`INT4_BLOCK`;
    the linear ops of the encoder layers ``fp32_layers`` (of ``num_layers``) stay fp32 (export.mixed_precision)."""
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.qtyping import TFLOperationName

    if any(not 0 <= i < num_layers for i in fp32_layers):
        raise ValueError(f"fp32 layers {list(fp32_layers)} outside the model's {num_layers} layers")
    rp = recipe.dynamic_wi8_afp32()
    if embeddings_int4:  # a later recipe entry overrides the earlier ones for the ops it names
        rp = rp + recipe.dynamic_wi4b32_afp32(operation_name=TFLOperationName.EMBEDDING_LOOKUP)
    rp = rp + [{"regex": layer_scope(i, num_layers), "operation": "*", "algorithm_key": "no_quantize"}
               for i in fp32_layers]
    with _quiet():
        q = quantizer.Quantizer(str(source))
        q.load_quantization_recipe(rp)
        result = q.quantize()
    if result.quantized_model is None:
        raise RuntimeError(f"ai-edge-quantizer returned no model for {source}")
    with atomic_file(final) as tmp:
        tmp.write_bytes(bytes(result.quantized_model))
    details = {"method": "dynamic", "recipe": "ai_edge_quantizer dynamic_wi8_afp32",
               "weights": "int8 per-channel", "activations": "fp32 (quantized on the fly by the kernels)"}
    if embeddings_int4:
        details["embeddings"] = f"int4, blocks of {INT4_BLOCK} (dynamic_wi4b32_afp32 on EMBEDDING_LOOKUP)"
    if fp32_layers:
        details["fp32_layers"] = list(fp32_layers)
    return details


def _blockwise_side_tensors(schema, graph) -> set[int]:
    """Indices of the scale and zero-point tensors that block-wise quantized tensors of ``graph`` point to."""
    side = set()
    for t in range(graph.TensorsLength()):
        quant = graph.Tensors(t).Quantization()
        if quant is None or quant.DetailsType() != schema.QuantizationDetails.BlockwiseQuantization:
            continue
        details = schema.BlockwiseQuantization()
        details.Init(quant.Details().Bytes, quant.Details().Pos)
        side.update(i for i in (details.Scales(), details.ZeroPoints()) if i >= 0)
    return side


def tflite_weight_count(path: Path) -> int:
    """Elements of the constant tensors a ``.tflite`` stores (float and int8 buffers, each buffer once).

    Integer shape and index constants are not weights and are left out, as are scalars (as in
    :func:`export.verify.onnx_weight_count`); per-channel scales live in quantization parameters, not in
    buffers, so an INT8 file counts the same elements as its fp32 source. Block-wise (4-bit) tables keep their
    scales in tensors of their own, which are not counted either.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    weight_types = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16, schema.TensorType.INT8,
                    schema.TensorType.UINT8, schema.TensorType.INT4}
    seen: set[int] = set()
    total = 0
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        side = _blockwise_side_tensors(schema, graph)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            index = tensor.Buffer()
            if index == 0 or index in seen or t in side or tensor.Type() not in weight_types:
                continue  # buffer 0 is the empty sentinel: activations and inputs point at it
            buffer = model.Buffers(index)
            if buffer.DataLength() == 0 and buffer.Size() == 0:
                continue
            seen.add(index)
            count = int(np.prod(tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
            if count > 1:
                total += count
    return total

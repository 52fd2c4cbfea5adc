"""LiteRT (``.tflite``): fp32 through litert-torch, dynamic-range INT8 through ai-edge-quantizer, and the runner.

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
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dynabert.fileio import atomic_file
from dynabert.quiet import native_stderr_silenced

#: Signature names: ``seq16``, ``seq32``, ... one per bucket length.
SIGNATURE_PREFIX = "seq"
#: The smallest bucket; each next one doubles, up to the export's max_length.
FIRST_BUCKET = 16
#: The id the padded positions get; any id works (they are masked), 0 is [PAD] in BERT vocabularies.
PAD_ID = 0


def unavailable_reason() -> str | None:
    """None when :class:`LiteRTSession` can run here, else why not and what to install.

    Running needs only ``ai-edge-litert`` (22 MB); exporting needs the whole ``litert`` extra.
    """
    if importlib.util.find_spec("ai_edge_litert") is None:
        return "needs ai-edge-litert (pip install 'dynabert-edge[litert]')"
    return None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The converter and the quantizer print progress bars, size summaries and C++ INFO logs on every call;
    # the pipeline prints its own progress, and errors still raise.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            native_stderr_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """fd 1 and fd 2 to /dev/null, C stdio flushed before they come back.

    LiteRT logs its delegate creation with C ``printf`` to stdout, which is block-buffered when stdout is a
    pipe: without the flush the line would surface at process exit, after the caller's output.
    """
    import ctypes

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with native_stderr_silenced():
            try:
                yield
            finally:
                ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def buckets(max_length: int) -> list[int]:
    """The bucket lengths of a file for ``max_length``: 16, 32, 64, ... below it, then ``max_length``.

    Doubling keeps the padding under half of any input (so latency within about 2x of an exact-length
    graph) with few signatures: each one adds its conversion time, not its weights.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    lengths, length = [], FIRST_BUCKET
    while length < max_length:
        lengths.append(length)
        length *= 2
    return [*lengths, max_length]


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


def quantize_litert_int8(source: Path, final: Path) -> dict:
    """Dynamic-range INT8 of the fp32 ``.tflite`` at ``source`` (int8 per-channel weights, fp32 activations)."""
    from ai_edge_quantizer import quantizer, recipe

    with _quiet():
        q = quantizer.Quantizer(str(source))
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        result = q.quantize()
    if result.quantized_model is None:
        raise RuntimeError(f"ai-edge-quantizer returned no model for {source}")
    with atomic_file(final) as tmp:
        tmp.write_bytes(bytes(result.quantized_model))
    return {"method": "dynamic", "recipe": "ai_edge_quantizer dynamic_wi8_afp32",
            "weights": "int8 per-channel", "activations": "fp32 (quantized on the fly by the kernels)"}


def tflite_weight_count(path: Path) -> int:
    """Elements of the constant tensors a ``.tflite`` stores (float and int8 buffers, each buffer once).

    Integer shape and index constants are not weights and are left out, as are scalars (as in
    :func:`export.verify.onnx_weight_count`); per-channel scales live in quantization parameters, not in
    buffers, so an INT8 file counts the same elements as its fp32 source.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    weight_types = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16, schema.TensorType.INT8,
                    schema.TensorType.UINT8, schema.TensorType.INT4}
    seen: set[int] = set()
    total = 0
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            index = tensor.Buffer()
            if index == 0 or index in seen or tensor.Type() not in weight_types:
                continue  # buffer 0 is the empty sentinel: activations and inputs point at it
            buffer = model.Buffers(index)
            if buffer.DataLength() == 0 and buffer.Size() == 0:
                continue
            seen.add(index)
            count = int(np.prod(tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
            if count > 1:
                total += count
    return total


class LiteRTSession:
    """A ``.tflite`` classifier in LiteRT's interpreter with the XNNPACK delegate and ``threads`` threads.

    ``run`` takes int arrays ``[batch, length]`` by input name (``length`` up to the file's largest bucket,
    :attr:`sequence`; each row runs in the smallest bucket that holds the batch's length, the file being
    batch 1) and returns float32 logits ``[batch, labels]``.
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.path = Path(path)
        self.threads = threads
        # BUILTIN applies LiteRT's default delegate, XNNPACK, to every op it supports; num_threads sizes
        # both the interpreter's and XNNPACK's pools.
        with _native_output_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads,
                                            experimental_op_resolver_type=OpResolverType.BUILTIN)
            # The delegate is applied lazily, at the first allocation: do it here, in the quiet block, and
            # so that loading (not the first run) pays for XNNPACK's weight packing.
            self._interpreter.allocate_tensors()
            names = [k for k in self._interpreter.get_signature_list() if k.startswith(SIGNATURE_PREFIX)]
            runners = {k: self._interpreter.get_signature_runner(k) for k in names}
        self._runners: dict[int, object] = {}
        self.input_names: list[str] = []
        for key, runner in runners.items():
            details = runner.get_input_details()
            shapes = {tuple(int(d) for d in details[n]["shape"]) for n in details}
            length = int(key.removeprefix(SIGNATURE_PREFIX)) if key.removeprefix(SIGNATURE_PREFIX).isdigit() else -1
            if shapes != {(1, length)}:
                raise ValueError(f"{self.path}: signature {key!r} should take [1, {length}] inputs, got {shapes}")
            if self.input_names and sorted(details) != sorted(self.input_names):
                raise ValueError(f"{self.path}: signatures disagree on their inputs")
            self.input_names = list(details)
            self._runners[length] = runner
        if not self._runners:
            raise ValueError(f"{self.path}: no {SIGNATURE_PREFIX}<length> signature; not a file export.litert wrote")
        #: The bucket lengths, ascending; the last is the longest input the file takes.
        self.buckets: list[int] = sorted(self._runners)
        self.sequence: int = self.buckets[-1]

    def bucket_for(self, length: int) -> int:
        """The bucket an input of ``length`` tokens runs in."""
        if length > self.sequence:
            raise ValueError(f"{self.path}: input length {length} > the file's longest bucket {self.sequence}")
        return next(b for b in self.buckets if b >= length)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if not self._runners:
            raise RuntimeError(f"{self.path}: session is closed")
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise ValueError(f"{self.path}: missing inputs {missing}; the file takes {self.input_names}")
        batch, length = feeds[self.input_names[0]].shape
        bucket = self.bucket_for(length)
        runner = self._runners[bucket]
        rows = []
        for row in range(batch):
            padded = {}
            for name in self.input_names:
                value = np.full((1, bucket), PAD_ID, dtype=np.int32)  # mask and token types pad with 0 too
                value[0, :length] = feeds[name][row]
                padded[name] = value
            out = runner(**padded)
            rows.append(np.asarray(next(iter(out.values())), dtype=np.float32).reshape(1, -1))
        return np.concatenate(rows)

    def close(self) -> None:
        self._runners = {}
        self._interpreter = None

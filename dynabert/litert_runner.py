"""Running a LiteRT (``.tflite``) file that :mod:`export.litert` wrote: the runtime catalogue's LiteRT runner.

Core, not export: device_bench, pick and export's verification all open files through
:mod:`dynabert.runtimes`, and this is what its ``litert-xnnpack`` entry opens. Running needs only
``ai-edge-litert`` (no torch, no converter): the RSS measurement counts LiteRT alone. The file layout it
reads (one signature ``seq<L>`` per length bucket, see :func:`buckets`) is defined here, once, for the
exporter and the runner.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .quiet import native_stderr_silenced

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

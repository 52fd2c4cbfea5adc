"""One runner per runtime: load an exported file, run batch-1 inputs, return logits.

Which runtimes measure which artifact is decided by the manifest's ``runtime`` field:

==================  ======================  ====================================================
manifest runtime    measured with           settings
==================  ======================  ====================================================
transformers        pytorch                 stock ``from_pretrained``, ``torch.set_num_threads``
onnxruntime         onnxruntime-cpu         CPU EP, all graph optimizations, intra-op threads
onnxruntime-mobile  onnxruntime-mobile      ORT format, sequential, no thread spinning
onnxruntime-mobile  onnxruntime-xnnpack     as above with the XNNPACK execution provider, if built in
executorch-xnnpack  executorch-xnnpack      ExecuTorch runtime, XNNPACK delegate, its threadpool size
coreml              coreml                  macOS only (Core ML has no Linux runtime)
==================  ======================  ====================================================

A runtime that cannot run here says why (:func:`unavailable_reason`); the caller reports "n/a" with
that reason instead of a number.
"""

from __future__ import annotations

import importlib.util
import platform
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynabert.quiet import native_stderr_silenced

from .manifest_reader import Artifact, BenchError


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    serves: str  # the manifest ``runtime`` whose artifacts it runs
    threads: str  # which thread grid applies: "cpu" | "mobile" | "none"
    description: str


RUNTIMES: dict[str, RuntimeSpec] = {
    r.name: r
    for r in (
        RuntimeSpec("pytorch", "transformers", "cpu", "PyTorch eager, stock transformers model"),
        RuntimeSpec("onnxruntime-cpu", "onnxruntime", "cpu", "ONNX Runtime CPU EP, ORT_ENABLE_ALL"),
        RuntimeSpec("onnxruntime-mobile", "onnxruntime-mobile", "mobile",
                    "ONNX Runtime, ORT format, no thread spinning (mobile-like)"),
        RuntimeSpec("onnxruntime-xnnpack", "onnxruntime-mobile", "mobile",
                    "ONNX Runtime XNNPACK EP on the .ort model (mobile-like)"),
        RuntimeSpec("executorch-xnnpack", "executorch-xnnpack", "mobile", "ExecuTorch runtime, XNNPACK delegate"),
        RuntimeSpec("coreml", "coreml", "none", "Core ML, CPU only"),
    )
}

#: The runtime whose accuracy stands for an artifact: its own, the one the file is made for.
ACCURACY_RUNTIME = {"transformers": "pytorch", "onnxruntime": "onnxruntime-cpu",
                    "onnxruntime-mobile": "onnxruntime-mobile", "executorch-xnnpack": "executorch-xnnpack",
                    "coreml": "coreml"}


def runtimes_for(artifact: Artifact) -> list[str]:
    """Measurement runtimes for an artifact, its own (accuracy) runtime first."""
    own = ACCURACY_RUNTIME.get(artifact.runtime)
    if own is None:
        return []
    return [own] + [r.name for r in RUNTIMES.values() if r.serves == artifact.runtime and r.name != own]


def unavailable_reason(runtime: str) -> str | None:
    """None when ``runtime`` can run on this machine, else a short reason for the table."""
    if runtime == "pytorch":
        return None if importlib.util.find_spec("transformers") else "needs transformers"
    if runtime in ("onnxruntime-cpu", "onnxruntime-mobile", "onnxruntime-xnnpack"):
        if importlib.util.find_spec("onnxruntime") is None:
            return "needs onnxruntime"
        if runtime == "onnxruntime-xnnpack":
            import onnxruntime as ort

            providers = ort.get_available_providers()
            if "XnnpackExecutionProvider" not in providers:
                return (f"this onnxruntime {ort.__version__} build has no XnnpackExecutionProvider "
                        f"(has {', '.join(p.removesuffix('ExecutionProvider') for p in providers)})")
        return None
    if runtime == "executorch-xnnpack":
        if importlib.util.find_spec("executorch") is None or importlib.util.find_spec("executorch.runtime") is None:
            return "needs executorch (pip install 'dynabert-edge[executorch]')"
        with native_stderr_silenced():  # its C++ side prints CPU probing to fd 2 when first loaded
            from executorch.extension.pybindings import portable_lib

        if "XnnpackBackend" not in portable_lib._get_registered_backend_names():
            return "this executorch build has no XNNPACK backend"
        return None
    if runtime == "coreml":
        return None if platform.system() == "Darwin" else "needs macOS"
    return f"unknown runtime {runtime!r}"


def make_feed(artifact: Artifact, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inputs ``artifact`` declares, in its dtypes; token types default to zeros (single segment)."""
    feed = {}
    for name, dtype in zip(artifact.input_names, artifact.input_dtypes, strict=True):
        value = features.get(name)
        if value is None:
            value = np.zeros_like(features["input_ids"])
        feed[name] = np.ascontiguousarray(value, dtype=np.int32 if dtype == "int32" else np.int64)
    return feed


class Runner:
    """A loaded model. ``run`` takes a feed from :func:`make_feed` and returns float32 logits (batch, labels)."""

    runtime = ""

    def __init__(self, artifact: Artifact, threads: int) -> None:
        self.artifact = artifact
        self.threads = threads

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Drop the model; the next group of measurements loads its own."""


class PyTorchRunner(Runner):
    runtime = "pytorch"

    def __init__(self, artifact: Artifact, threads: int) -> None:
        super().__init__(artifact, threads)
        import torch
        from transformers import AutoModelForSequenceClassification

        self._torch = torch
        self._set_threads()
        self.model = AutoModelForSequenceClassification.from_pretrained(artifact.path).eval()

    def _set_threads(self) -> None:
        # torch's pool size is process-wide; a runner of another thread count may have changed it.
        if self.threads > 0 and self._torch.get_num_threads() != self.threads:
            self._torch.set_num_threads(self.threads)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        self._set_threads()
        torch = self._torch
        with torch.inference_mode():
            out = self.model(**{k: torch.from_numpy(v) for k, v in feed.items()})
        return out.logits.float().numpy()

    def close(self) -> None:
        self.model = None


class OrtRunner(Runner):
    runtime = "onnxruntime-cpu"

    def __init__(self, artifact: Artifact, threads: int) -> None:
        super().__init__(artifact, threads)
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(artifact.path), self._options(ort), providers=self._providers())

    def _options(self, ort: Any) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        return options

    def _providers(self) -> list:
        return ["CPUExecutionProvider"]

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feed)[0]

    def close(self) -> None:
        self.session = None


class OrtMobileRunner(OrtRunner):
    """ORT as an app runs a ``.ort`` file: ORT format, sequential, no thread spinning.

    Spinning is off because phone apps turn it off to save power and heat (ORT's mobile guidance); on a
    desktop it buys a little latency at the cost of burning a core between runs. Apps also let ORT use
    the model bytes in place (``session.use_ort_model_bytes_directly``); not here: the Python binding
    copies the bytes into a temporary that dies after loading, so ORT would read freed memory.
    """

    runtime = "onnxruntime-mobile"

    def __init__(self, artifact: Artifact, threads: int) -> None:
        Runner.__init__(self, artifact, threads)
        import onnxruntime as ort

        options = self._options(ort)
        options.add_session_config_entry("session.load_model_format", "ORT")
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(artifact.path), options, providers=self._providers())


class OrtXnnpackRunner(OrtMobileRunner):
    runtime = "onnxruntime-xnnpack"

    def _options(self, ort: Any) -> Any:
        options = super()._options(ort)
        # XNNPACK runs its own pool; ORT's intra-op pool is then 1 thread, as ORT's XNNPACK docs advise.
        options.intra_op_num_threads = 1
        return options

    def _providers(self) -> list:
        return [("XnnpackExecutionProvider", {"intra_op_num_threads": str(self.threads)}), "CPUExecutionProvider"]


_live_executorch: weakref.WeakSet = weakref.WeakSet()
_executorch_lock = threading.Lock()


class ExecuTorchRunner(Runner):
    """ExecuTorch ``.pte`` through its Python runtime. Batch 1 only (the export fixes it).

    The XNNPACK threadpool is process-wide and loaded methods keep a pointer to it, so its size can only
    change while no method is loaded: runners of one thread count are loaded, used and closed together.
    """

    runtime = "executorch-xnnpack"

    def __init__(self, artifact: Artifact, threads: int) -> None:
        super().__init__(artifact, threads)
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        self._torch = torch
        self.method = None
        with _executorch_lock, native_stderr_silenced():  # threadpool resets and loads log to fd 2
            if threads > 0 and portable_lib._threadpool_get_thread_count() != threads:
                if any(r.method is not None for r in _live_executorch):
                    raise BenchError("ExecuTorch runners of different thread counts cannot be loaded at once")
                portable_lib._unsafe_reset_threadpool(threads)
            self.program = Runtime.get().load_program(str(artifact.path))
            self.method = self.program.load_method("forward")
            _live_executorch.add(self)
        self._names = list(artifact.input_names)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        if next(iter(feed.values())).shape[0] != 1:
            raise ValueError("ExecuTorch models are exported for batch 1")
        out = self.method.execute([self._torch.from_numpy(feed[n]) for n in self._names])
        return out[0].detach().float().numpy()

    def close(self) -> None:
        self.method = None
        self.program = None


class CoreMLRunner(Runner):
    runtime = "coreml"

    def __init__(self, artifact: Artifact, threads: int) -> None:
        super().__init__(artifact, threads)
        import coremltools as ct

        self.model = ct.models.MLModel(str(artifact.path), compute_units=ct.ComputeUnit.CPU_ONLY)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        out = self.model.predict({k: v.astype(np.int32) for k, v in feed.items()})
        return np.asarray(out["logits"], dtype=np.float32).reshape(1, -1)

    def close(self) -> None:
        self.model = None


_RUNNERS: dict[str, type[Runner]] = {
    "pytorch": PyTorchRunner, "onnxruntime-cpu": OrtRunner, "onnxruntime-mobile": OrtMobileRunner,
    "onnxruntime-xnnpack": OrtXnnpackRunner, "executorch-xnnpack": ExecuTorchRunner, "coreml": CoreMLRunner,
}


def load(runtime: str, artifact: Artifact, threads: int) -> Runner:
    """Load ``artifact`` in ``runtime`` with ``threads`` intra-op threads (0: the runtime's default)."""
    if runtime not in _RUNNERS:
        raise BenchError(f"unknown runtime {runtime!r}; known: {', '.join(_RUNNERS)}")
    return _RUNNERS[runtime](artifact, threads)


def describe(runtime: str) -> str:
    spec = RUNTIMES.get(runtime)
    return spec.description if spec else runtime


def set_executorch_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide XNNPACK threadpool before a group of runners is loaded."""
    if threads < 1 or unavailable_reason("executorch-xnnpack") is not None:
        return
    from executorch.extension.pybindings import portable_lib

    with _executorch_lock, native_stderr_silenced():  # the threadpool reset logs to fd 2
        if portable_lib._threadpool_get_thread_count() == threads:
            return
        if any(r.method is not None for r in _live_executorch):
            raise BenchError("cannot resize ExecuTorch's threadpool while models are loaded")
        portable_lib._unsafe_reset_threadpool(threads)

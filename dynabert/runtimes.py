"""The runtime catalogue: every runtime an exported file can be run in, one entry each.

export's verification, device_bench (accuracy, latency, peak RSS), pick and the adb path all go through
this table; none of them keys anything else on a runtime's name.

==================  ===================  =================================================================
runtime (entry)     serves (file family) settings
==================  ===================  =================================================================
pytorch             transformers         stock ``from_pretrained``, ``torch.set_num_threads``
onnxruntime-cpu     onnxruntime          CPU EP, all graph optimizations, intra-op threads
onnxruntime-mobile  onnxruntime-mobile   ORT format, sequential, no thread spinning
onnxruntime-xnnpack onnxruntime-mobile   as above with the XNNPACK execution provider, if built in
executorch-xnnpack  executorch-xnnpack   ExecuTorch runtime, XNNPACK delegate, its threadpool size
coreml              coreml               macOS only (Core ML has no Linux runtime)
android-onnxruntime onnxruntime(-mobile) the demo app on a phone over adb (device_bench.adb), not here
==================  ===================  =================================================================

A *file family* is the ``runtime`` a format declares (``export.formats.Format.runtime``) and the manifest
records per artifact. The entry with ``own=True`` for a family is the one its files are verified and
scored with; the others only add latency and RSS rows.

Adding a runtime = one :class:`Runtime` entry in :data:`CATALOGUE` (+ its exporter module and a
``Format`` whose ``runtime`` is the new family). The entry interface::

    Runtime(
        name="litert",                    # table rows, --runtimes, results.json "runtime"
        serves=("litert",),               # the file families it runs (Format.runtime values)
        description="LiteRT interpreter, XNNPACK delegate",
        open=open_litert,                 # (path, *, threads, input_names, settings) -> Session
        unavailable=needs("ai_edge_litert.interpreter", "pip install 'dynabert-edge[litert]'"),
        threads="mobile",                 # device_bench's thread grid: "cpu" | "mobile" | "none"
        memory_family="litert",           # RSS helper process; runtimes of one family share one
        imports=("ai_edge_litert.interpreter",),  # what that helper imports once before forking
                                          # ("module:attr,attr" also resolves lazy attributes)
        own=True,                         # verifies and scores the files of its family
        batch_one=False,                  # True: its files take batch 1 only
        ids_dtype="int64",                # the integer type its files take ids and masks in
    )

``open(path, *, threads, input_names, settings)`` returns a :class:`Session`: ``run(feeds) -> logits``
(``feeds``: input name -> int array of shape (batch, length), in the dtypes the manifest lists; logits:
float32 (batch, labels)) and ``close()``. ``threads`` 0 means the runtime's default. ``settings`` is the
artifact's ``session_settings`` from the manifest (a dict, often empty): per-file options the exporter
found necessary (e.g. ONNX Runtime optimizers to disable for an INT8 graph); an entry must refuse keys
it does not know (:class:`ValueError`) rather than ignore them. A class with ``__init__(path, threads)``
and ``run(feeds)`` (such as a LiteRT runner in its exporter module) becomes an entry's ``open`` with
:func:`plain_open`; import it inside the function, so that the catalogue itself imports no runtime.
"""

from __future__ import annotations

import importlib.util
import platform
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dynabert.quiet import native_stderr_silenced


class Session:
    """A loaded model. ``run`` takes ``{input name: (batch, length) int array}`` and returns float32 logits
    (batch, labels); ``close`` drops the model."""

    runtime = ""

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Drop the model; the next group of measurements loads its own."""


Opener = Callable[..., Session]


@dataclass(frozen=True)
class Runtime:
    """One catalogue entry (see the module docstring for the interface)."""

    name: str
    serves: tuple[str, ...]
    description: str
    open: Opener
    unavailable: Callable[[], str | None]
    threads: str = "cpu"  # "cpu": (1, all cores) | "mobile": (1, 2) | "none": the runtime decides
    memory_family: str = ""
    imports: tuple[str, ...] = ()
    own: bool = False
    batch_one: bool = False
    ids_dtype: str = "int64"  # the integer type its files take token ids (and masks) in
    #: "host": run in this process; "android": measured by the demo app over adb (device_bench.adb)
    where: str = "host"
    #: the formats it runs when not every format of its families (the app bundles only some)
    formats: tuple[str, ...] | None = None


def needs(module: str, hint: str) -> Callable[[], str | None]:
    """An availability check: ``None`` when ``module`` can be imported, else the install hint."""

    def check() -> str | None:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a missing parent package
            found = False
        return None if found else f"needs {module.split('.')[0]} ({hint})"

    return check


def plain_open(factory: Callable[[Path, int], Any], runtime: str) -> Opener:
    """``open`` for a class taking ``(path, threads)`` with ``run(feeds)`` (and maybe ``close()``), e.g. a runner
    that lives in its exporter module: per-file settings are refused (it has none to apply)."""

    def open_(path: Path, *, threads: int = 0, input_names: Sequence[str] = (), settings: Mapping | None = None):
        _no_settings(runtime, settings)
        return _Adapted(factory(Path(path), threads), runtime)

    return open_


class _Adapted(Session):
    def __init__(self, inner: Any, runtime: str) -> None:
        self.inner, self.runtime = inner, runtime

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.inner.run(feeds), dtype=np.float32)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
        self.inner = None


def _no_settings(runtime: str, settings: Mapping | None) -> None:
    if settings:
        raise ValueError(f"{runtime} takes no session settings, got {sorted(settings)}")


# ---------------------------------------------------------------------------------------------- PyTorch


class PyTorchSession(Session):
    runtime = "pytorch"

    def __init__(self, path: Path, threads: int) -> None:
        import torch

        from dynabert.backbone import load_classifier_weights

        self._torch = torch
        self.threads = threads
        self._set_threads()
        # The strict loader, safetensors only: a missing tensor fails instead of being initialised at random,
        # and a pickled pytorch_model.bin beside the weights is never opened.
        self.model = load_classifier_weights(path, use_safetensors=True).eval()

    def _set_threads(self) -> None:
        # torch's pool size is process-wide; a session of another thread count may have changed it.
        if self.threads > 0 and self._torch.get_num_threads() != self.threads:
            self._torch.set_num_threads(self.threads)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        self._set_threads()
        torch = self._torch
        with torch.inference_mode():
            out = self.model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
        return out.logits.float().numpy()

    def close(self) -> None:
        self.model = None


def _open_pytorch(path: Path, *, threads: int = 0, input_names: Sequence[str] = (),
                  settings: Mapping | None = None) -> Session:
    _no_settings("pytorch", settings)
    return PyTorchSession(Path(path), threads)


# ---------------------------------------------------------------------------------------------- ONNX Runtime

class OrtSession(Session):
    """ONNX Runtime on its CPU execution provider. ``settings``: the file's session settings in the format
    of :mod:`dynabert.ort_settings` (graph optimization level, disabled fusions); anything else is refused."""

    runtime = "onnxruntime-cpu"

    def __init__(self, path: Path, threads: int, settings: Mapping | None = None) -> None:
        import onnxruntime as ort

        from .ort_settings import SettingsError, apply

        self.threads = threads
        options = self._options(ort)
        if settings:
            try:
                apply(dict(settings), options)
            except SettingsError as exc:
                raise ValueError(f"{self.runtime}: {exc}") from None
        self.session = ort.InferenceSession(str(path), options, providers=self._providers())

    def _options(self, ort: Any) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        return options

    def _providers(self) -> list:
        return ["CPUExecutionProvider"]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feeds)[0]

    def close(self) -> None:
        self.session = None


class OrtMobileSession(OrtSession):
    """ORT as an app runs a ``.ort`` file: ORT format, sequential, no thread spinning.

    Spinning is off because phone apps turn it off to save power and heat (ORT's mobile guidance); on a
    desktop it buys a little latency at the cost of burning a core between runs. Apps also let ORT use
    the model bytes in place (``session.use_ort_model_bytes_directly``); not here: the Python binding
    copies the bytes into a temporary that dies after loading, so ORT would read freed memory.
    """

    runtime = "onnxruntime-mobile"

    def _options(self, ort: Any) -> Any:
        options = super()._options(ort)
        options.add_session_config_entry("session.load_model_format", "ORT")
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options


class OrtXnnpackSession(OrtMobileSession):
    runtime = "onnxruntime-xnnpack"

    def _options(self, ort: Any) -> Any:
        options = super()._options(ort)
        # XNNPACK runs its own pool; ORT's intra-op pool is then 1 thread, as ORT's XNNPACK docs advise.
        options.intra_op_num_threads = 1
        return options

    def _providers(self) -> list:
        return [("XnnpackExecutionProvider", {"intra_op_num_threads": str(self.threads)}), "CPUExecutionProvider"]


def _ort_opener(cls: type[OrtSession]) -> Opener:
    def open_(path: Path, *, threads: int = 0, input_names: Sequence[str] = (),
              settings: Mapping | None = None) -> Session:
        return cls(Path(path), threads, settings)

    return open_


_needs_ort = needs("onnxruntime", "pip install onnxruntime")


def _xnnpack_ep_missing() -> str | None:
    reason = _needs_ort()
    if reason:
        return reason
    import onnxruntime as ort

    providers = ort.get_available_providers()
    if "XnnpackExecutionProvider" not in providers:
        return (f"this onnxruntime {ort.__version__} build has no XnnpackExecutionProvider "
                f"(has {', '.join(p.removesuffix('ExecutionProvider') for p in providers)})")
    return None


# ---------------------------------------------------------------------------------------------- ExecuTorch

_live_executorch: weakref.WeakSet = weakref.WeakSet()
_executorch_lock = threading.Lock()


class ExecuTorchSession(Session):
    """ExecuTorch ``.pte`` through its Python runtime. Batch 1 only (the export fixes it).

    The XNNPACK threadpool is process-wide and loaded methods keep a pointer to it, so its size can only
    change while no method is loaded: sessions of one thread count are loaded, used and closed together.
    """

    runtime = "executorch-xnnpack"

    def __init__(self, path: Path, threads: int, input_names: Sequence[str]) -> None:
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime as _ETRuntime

        self._torch = torch
        self.method = None
        with _executorch_lock, native_stderr_silenced():  # threadpool resets and loads log to fd 2
            if threads > 0 and portable_lib._threadpool_get_thread_count() != threads:
                if any(r.method is not None for r in _live_executorch):
                    raise RuntimeError("ExecuTorch sessions of different thread counts cannot be loaded at once")
                portable_lib._unsafe_reset_threadpool(threads)
            self.program = _ETRuntime.get().load_program(str(path))
            self.method = self.program.load_method("forward")
            _live_executorch.add(self)
        self._names = list(input_names)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if next(iter(feeds.values())).shape[0] != 1:
            raise ValueError("ExecuTorch models are exported for batch 1")
        names = self._names or list(feeds)
        out = self.method.execute([self._torch.from_numpy(feeds[n]) for n in names])
        return out[0].detach().float().numpy()

    def close(self) -> None:
        self.method = None
        self.program = None


def _open_executorch(path: Path, *, threads: int = 0, input_names: Sequence[str] = (),
                     settings: Mapping | None = None) -> Session:
    _no_settings("executorch-xnnpack", settings)
    return ExecuTorchSession(Path(path), threads, input_names)


def _executorch_missing() -> str | None:
    if needs("executorch.runtime", "")() is not None:
        return "needs executorch (pip install 'dynabert-edge[executorch]')"
    with native_stderr_silenced():  # its C++ side prints CPU probing to fd 2 when first loaded
        from executorch.extension.pybindings import portable_lib

    if "XnnpackBackend" not in portable_lib._get_registered_backend_names():
        return "this executorch build has no XNNPACK backend"
    return None


def set_executorch_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide XNNPACK threadpool before a group of sessions is loaded."""
    if threads < 1 or _executorch_missing() is not None:
        return
    from executorch.extension.pybindings import portable_lib

    with _executorch_lock, native_stderr_silenced():  # the threadpool reset logs to fd 2
        if portable_lib._threadpool_get_thread_count() == threads:
            return
        if any(r.method is not None for r in _live_executorch):
            raise RuntimeError("cannot resize ExecuTorch's threadpool while models are loaded")
        portable_lib._unsafe_reset_threadpool(threads)


# ---------------------------------------------------------------------------------------------- Core ML


class CoreMLSession(Session):
    runtime = "coreml"

    def __init__(self, path: Path) -> None:
        import coremltools as ct

        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        out = self.model.predict({k: v.astype(np.int32) for k, v in feeds.items()})
        return np.asarray(out["logits"], dtype=np.float32).reshape(1, -1)

    def close(self) -> None:
        self.model = None


def _open_coreml(path: Path, *, threads: int = 0, input_names: Sequence[str] = (),
                 settings: Mapping | None = None) -> Session:
    _no_settings("coreml", settings)
    return CoreMLSession(Path(path))


def _coreml_missing() -> str | None:
    return None if platform.system() == "Darwin" else "needs macOS"


# ---------------------------------------------------------------------------------------------- the phone


def _litert_session(path: Path, threads: int) -> Any:
    from .litert_runner import LiteRTSession  # here: the catalogue imports no runtime

    return LiteRTSession(path, max(1, threads))  # 0 (the runtime's default) is one thread for LiteRT


def _litert_missing() -> str | None:
    from .litert_runner import unavailable_reason

    return unavailable_reason()


def _open_on_phone(path: Path, **_: Any) -> Session:
    raise RuntimeError("android-onnxruntime runs in the demo app on a phone (device_bench.adb), not in this process")


def _phone_only() -> str | None:
    return "measured on an Android phone over adb (device_bench --android)"


# ---------------------------------------------------------------------------------------------- the catalogue

CATALOGUE: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("pytorch", ("transformers",), "PyTorch eager, stock transformers model", _open_pytorch,
                needs("transformers", "pip install transformers"), threads="cpu", memory_family="torch",
                imports=("torch", "transformers:AutoConfig,AutoModelForSequenceClassification",
                         "transformers.models.bert.modeling_bert", "transformers.models.roberta.modeling_roberta"),
                own=True),
        Runtime("onnxruntime-cpu", ("onnxruntime",), "ONNX Runtime CPU EP, ORT_ENABLE_ALL", _ort_opener(OrtSession),
                _needs_ort, threads="cpu", memory_family="ort", imports=("onnxruntime",), own=True),
        Runtime("onnxruntime-mobile", ("onnxruntime-mobile",),
                "ONNX Runtime, ORT format, no thread spinning (mobile-like)", _ort_opener(OrtMobileSession),
                _needs_ort, threads="mobile", memory_family="ort", imports=("onnxruntime",), own=True),
        Runtime("onnxruntime-xnnpack", ("onnxruntime-mobile",),
                "ONNX Runtime XNNPACK EP on the .ort model (mobile-like)", _ort_opener(OrtXnnpackSession),
                _xnnpack_ep_missing, threads="mobile", memory_family="ort", imports=("onnxruntime",)),
        Runtime("executorch-xnnpack", ("executorch-xnnpack",), "ExecuTorch runtime, XNNPACK delegate",
                _open_executorch, _executorch_missing, threads="mobile", memory_family="executorch",
                imports=("torch", "executorch.runtime"), own=True, batch_one=True),
        Runtime("coreml", ("coreml",), "Core ML, CPU only", _open_coreml, _coreml_missing, threads="none",
                memory_family="coreml", imports=("coremltools",), own=True, batch_one=True, ids_dtype="int32"),
        # LiteRT files are batch 1 and int32, one fixed-shape signature per length bucket (dynabert.litert_runner):
        # a latency is the cost at the bucket that holds the length.
        Runtime("litert-xnnpack", ("litert-xnnpack",), "LiteRT interpreter, XNNPACK delegate (length buckets)",
                plain_open(_litert_session, "litert-xnnpack"), _litert_missing, threads="mobile",
                memory_family="litert", imports=("ai_edge_litert.interpreter",), own=True, batch_one=True,
                ids_dtype="int32"),
        Runtime("android-onnxruntime", ("onnxruntime", "onnxruntime-mobile"),
                "the demo app's ONNX Runtime on an Android phone (adb)", _open_on_phone, _phone_only,
                threads="none", where="android",
                formats=("onnx", "onnx-int8", "onnx-qdq", "ort", "ort-int8", "ort-qdq")),
    )
}

#: The runtimes that run in this process (device_bench's latency, accuracy and RSS grid).
HOST = {name: r for name, r in CATALOGUE.items() if r.where == "host"}


def get(name: str) -> Runtime:
    """The entry called ``name``; :class:`KeyError` with the known names otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown runtime {name!r}; known: {', '.join(CATALOGUE)}") from None


def own_runtime(family: str) -> str | None:
    """The runtime that verifies and scores files of ``family`` (a format's ``runtime``); None if none."""
    return next((r.name for r in HOST.values() if r.own and family in r.serves), None)


def runtimes_for(family: str) -> list[str]:
    """Host runtimes that run files of ``family``, its own runtime first."""
    own = own_runtime(family)
    if own is None:
        return []
    return [own] + [r.name for r in HOST.values() if family in r.serves and r.name != own]


def unavailable_reason(name: str) -> str | None:
    """None when runtime ``name`` can run on this machine, else a short reason (with the install hint)."""
    entry = CATALOGUE.get(name)
    return f"unknown runtime {name!r}" if entry is None else entry.unavailable()


def open_session(name: str, path: str | Path, *, threads: int = 0, input_names: Sequence[str] = (),
                 settings: Mapping | None = None) -> Session:
    """Open ``path`` in runtime ``name`` with ``threads`` intra-op threads (0: the runtime's default)."""
    return get(name).open(Path(path), threads=threads, input_names=tuple(input_names), settings=dict(settings or {}))

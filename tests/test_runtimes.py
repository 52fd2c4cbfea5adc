"""The runtime catalogue (dynabert.runtimes): one entry per runtime, used by export's verification and by
device_bench; a new runtime is one entry."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest
from test_cli_device_bench import _onnx_classifier

from device_bench import runtimes as bench_runtimes
from dynabert import runtimes as catalogue
from export.formats import FORMATS


def test_every_format_has_exactly_one_own_runtime():
    for fmt in FORMATS.values():
        own = [r.name for r in catalogue.HOST.values() if r.own and fmt.runtime in r.serves]
        assert len(own) == 1, (fmt.name, own)
        assert catalogue.own_runtime(fmt.runtime) == own[0]


def test_device_bench_tables_are_derived_from_the_catalogue():
    # What device_bench keyed by hand before the catalogue: the same answers, now from one table.
    assert bench_runtimes.ACCURACY_RUNTIME == {
        "transformers": "pytorch", "onnxruntime": "onnxruntime-cpu", "onnxruntime-mobile": "onnxruntime-mobile",
        "executorch-xnnpack": "executorch-xnnpack", "coreml": "coreml", "litert-xnnpack": "litert-xnnpack"}
    assert catalogue.runtimes_for("onnxruntime-mobile") == ["onnxruntime-mobile", "onnxruntime-xnnpack"]
    assert catalogue.runtimes_for("no-such-family") == []
    assert "android-onnxruntime" not in bench_runtimes.RUNTIMES  # measured over adb, not in this process
    families = {r.memory_family for r in catalogue.HOST.values()}
    assert families == {"torch", "ort", "executorch", "coreml", "litert"}
    assert all(r.threads in ("cpu", "mobile", "none") for r in catalogue.CATALOGUE.values())


def test_availability_reasons():
    assert catalogue.unavailable_reason("onnxruntime-cpu") is None
    assert catalogue.unavailable_reason("nope") == "unknown runtime 'nope'"
    if platform.system() != "Darwin":
        assert catalogue.unavailable_reason("coreml") == "needs macOS"
    assert "adb" in catalogue.unavailable_reason("android-onnxruntime")
    missing = catalogue.needs("surely_not_a_module_xyz.sub", "pip install 'dynabert-edge[xyz]'")()
    assert missing == "needs surely_not_a_module_xyz (pip install 'dynabert-edge[xyz]')"


@pytest.fixture
def toy_onnx(tmp_path) -> Path:
    path = tmp_path / "model.onnx"
    _onnx_classifier(path, 3)
    return path


def test_ort_session_runs_and_takes_only_known_settings(toy_onnx):
    feeds = {"input_ids": np.array([[2, 4], [6, 8]], dtype=np.int64), "attention_mask": np.ones((2, 2), np.int64)}
    session = catalogue.open_session("onnxruntime-cpu", toy_onnx, threads=1)
    want = np.array([[3.0], [7.0]], dtype=np.float32) * np.linspace(-1, 1, 3, dtype=np.float32)
    np.testing.assert_allclose(session.run(feeds), want, rtol=1e-6)
    session.close()
    tuned = catalogue.open_session("onnxruntime-cpu", toy_onnx, threads=1,
                                   settings={"graph_optimization_level": "ORT_ENABLE_EXTENDED",
                                             "disabled_optimizers": ["MatMulAddFusion"]})
    np.testing.assert_allclose(tuned.run(feeds), want, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown session setting"):
        catalogue.open_session("onnxruntime-cpu", toy_onnx, settings={"graph_level": 1})
    with pytest.raises(ValueError, match="takes no session settings"):
        catalogue.open_session("pytorch", toy_onnx, settings={"disabled_optimizers": ["x"]})
    with pytest.raises(KeyError, match="unknown runtime 'nope'"):
        catalogue.open_session("nope", toy_onnx)


class _DoublingRunner:
    """A runner of the shape an exporter module provides: ``__init__(path, threads)``, ``run(feeds)``."""

    def __init__(self, path: Path, threads: int) -> None:
        self.path, self.threads = path, threads

    def run(self, feeds):
        assert feeds["input_ids"].dtype == np.int32  # the entry's ids_dtype, what the manifest records
        return feeds["input_ids"].astype(np.float32)[:, :1] * 2


def test_a_new_runtime_is_one_entry(monkeypatch, tmp_path):
    """One entry makes a new file family verifiable by export (verify.run_file) and measurable (runtimes_for)."""
    from export import verify
    from export.inputs import Inputs

    entry = catalogue.Runtime("toy", ("toy-family",), "a toy runtime", catalogue.plain_open(_DoublingRunner, "toy"),
                              lambda: None, threads="mobile", memory_family="toy", own=True, batch_one=True,
                              ids_dtype="int32")
    monkeypatch.setitem(catalogue.CATALOGUE, "toy", entry)
    monkeypatch.setitem(catalogue.HOST, "toy", entry)
    assert catalogue.own_runtime("toy-family") == "toy" and catalogue.runtimes_for("toy-family") == ["toy"]
    assert verify.unavailable("toy-family") is None
    inputs = Inputs(["input_ids"], [{"input_ids": np.array([[5, 1]])}, {"input_ids": np.array([[7]])}], ["a", "b"],
                    "dev")
    outputs, modes = verify.run_file("toy-family", tmp_path / "m.toy", inputs, pad_token_id=0)
    assert modes == ["batch1"]  # batch_one: no padded batches
    np.testing.assert_array_equal(outputs[0], [[10.0], [14.0]])
    with pytest.raises(ValueError, match="toy takes no session settings"):
        catalogue.open_session("toy", tmp_path / "m.toy", settings={"x": 1})

"""Will the app's ONNX Runtime load this file? Checked with the same ONNX Runtime version in Python.

The demo app (Gradle and the offline APK) ships ONNX Runtime 1.29.0, older than the Python one that
exports and verifies (a file can carry an opset or IR version, or an ``.ort`` format version, that 1.29
does not read). ``android_demo/ci/install_toolchain.sh`` caches the matching Python wheel's package; this
loads each file with it in a child process (the two versions cannot share one interpreter), so ``pick``
refuses before installing what the app could not open. Where the cache is absent, the check is skipped
and the caller says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: The version the app ships: android_demo/ci/lib.sh ORT_AAR_VERSION and gradle/libs.versions.toml.
APP_ORT_VERSION = "1.29.0"
#: Where install_toolchain.sh unpacks the matching Python package (android_demo/ci/lib.sh ORT_PYTHON_DIR_DEFAULT).
APP_ORT_PYTHON = Path(os.environ.get("DYNABERT_CACHE_DIR", Path.home() / ".cache" / "dynabert-edge")) / \
    f"ort-python-{APP_ORT_VERSION}"

_LOAD = """
import json, sys
import onnxruntime as ort
assert ort.__version__ == sys.argv[2], ort.__version__
options = ort.SessionOptions()
options.log_severity_level = 3
for path in json.loads(sys.argv[1]):
    try:
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        print(path + ": " + str(exc).splitlines()[0][:300])
        sys.exit(3)
"""


def available() -> bool:
    return (APP_ORT_PYTHON / "onnxruntime" / "__init__.py").is_file()


def load_error(paths: list[Path], timeout: float = 600) -> str | None:
    """None when ONNX Runtime ``APP_ORT_VERSION`` loads every file, else the first failure in one line.

    Call only when :func:`available`.
    """
    env = {**os.environ, "PYTHONPATH": str(APP_ORT_PYTHON)}
    proc = subprocess.run([sys.executable, "-c", _LOAD, json.dumps([str(p) for p in paths]), APP_ORT_VERSION],
                          capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode == 0:
        return None
    detail = (proc.stdout.strip() or proc.stderr.strip().splitlines()[-1:] or ["no output"])
    detail = detail if isinstance(detail, str) else detail[0]
    return f"ONNX Runtime {APP_ORT_VERSION} (the app's) cannot load {detail}"

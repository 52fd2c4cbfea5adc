"""Quiet start-up: what optional runtimes print when they are merely imported.

With the ExecuTorch extra installed, importing it loads torchao, which logs a "Failed to load
.../torchao/_C_mxfp8...so" line for every CUDA kernel library a CPU machine cannot load, and torch's pytree
module warns about enum registrations torchao makes. Neither says anything about the user's run, and every
stage command (export, device_bench, pick) may import ExecuTorch to run or check .pte files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

#: Loggers that speak only while an optional runtime is imported; errors still get through.
IMPORT_NOISE_LOGGERS = ("torchao", "torch.utils._pytree")


def quiet_imports() -> None:
    """Call before the first import of an optional runtime (ExecuTorch) in a process."""
    for name in IMPORT_NOISE_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send C/C++ writes to fd 2 (ExecuTorch's cpuinfo probing) to /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

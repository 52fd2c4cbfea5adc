"""Keep the converters' chatter off the terminal, so the progress bar and real failures stay readable.

Every tool here logs at INFO/WARNING for conditions that are expected in this pipeline (narrow attention
widths, deprecated exporters, untested torch versions); failures still surface as exceptions and in the
manifest.
"""

from __future__ import annotations

import logging
import warnings

_NOISY_LOGGERS = (
    "onnxruntime", "fusion_attention", "fusion_base", "fusion_utils", "onnx_model", "onnx_model_bert",
    "ort_format_model", "ort_format_model.utils", "coremltools", "torchao", "torch.export", "torch._export",
    "torch.onnx", "executorch", "root",
)


def quiet_process() -> None:
    """Silence warnings and library loggers for the rest of this process (import noise: dynabert/quiet.py)."""
    warnings.filterwarnings("ignore")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a hard dependency
        pass



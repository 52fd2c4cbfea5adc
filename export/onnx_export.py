"""ONNX fp32 export with dynamic batch and sequence axes.

Uses ``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``): the dynamo exporter needs
``onnxscript`` (not a dependency here) and its graphs defeat onnxruntime's BERT fusion patterns, which
match the TorchScript export of eager attention. optimum's exporter would add nothing for a model that
is already a plain traced module (see :mod:`export.wrapper`) and costs a second model load per sub-model.
The traced graph's Reshape targets are then made constants where shape inference proves them
(:mod:`export.static_reshape`): every format built from this file runs without the per-layer shape ops.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from dynabert.fileio import atomic_file

from .static_reshape import make_reshapes_static
from .wrapper import ExportWrapper

#: 17 is the first opset with a LayerNormalization op, and ONNX Runtime Mobile 1.15+ runs it.
OPSET = 17
OUTPUT_NAME = "logits"


def export_onnx(model: torch.nn.Module, names: list[str], final: Path, example_len: int = 16) -> None:
    """Trace ``model`` (an :class:`ExportWrapper`) to ``final`` with axes ``batch`` and ``sequence``."""
    # A ragged example (batch 2, one padded row) so nothing specialises on batch 1 or an all-ones mask.
    ids = torch.full((2, example_len), 1000, dtype=torch.long)
    mask = torch.ones(2, example_len, dtype=torch.long)
    mask[1, example_len // 2:] = 0
    args = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[OUTPUT_NAME] = {0: "batch"}
    with atomic_file(final) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo (see the module docstring), and the
        # tracer warns about constants it folds; neither is actionable here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(args[name] for name in names),
            str(tmp),
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        model = onnx.load(str(tmp))
        if make_reshapes_static(model):
            onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp))


def wrap(hf_model, names: list[str]) -> ExportWrapper:
    return ExportWrapper(hf_model, with_token_types="token_type_ids" in names).eval()

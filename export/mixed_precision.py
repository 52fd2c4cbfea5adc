"""The fallback of the ExecuTorch and LiteRT INT8 files: the encoder layers that stay fp32 when all-INT8 misses.

ONNX Runtime's INT8 files fall back to block-wise 8-bit weights (``export.pipeline.INT8_RECIPES``). The other
two runtimes have no 8-bit block-wise linear that runs here: XNNPACK's quantizer offers per-channel weights
only, and ai-edge-quantizer's ``dynamic_wi8b32_afp32`` left the CoLA model unquantized (75 MB). What both can
do is leave layers out of quantization, so their fallback is mixed precision, accuracy-driven as Intel
Neural Compressor's tuning is: keep the most quantization-sensitive encoder layer in fp32, then the two
most sensitive, ... (at most :func:`max_fp32_layers`) until the file passes its gate.

The order is found without labels. Each layer alone is fake-quantized in PyTorch (every ``nn.Linear`` in it:
int8 symmetric weights per output channel, int8 asymmetric activations per tensor: XNNPACK's dynamic
scheme; LiteRT's dynamic-range kernels differ only in taking one activation scale per row), and the mean
squared change of the logits over the ranking sentences (the training split where export has it) scores
the layer. Measured on CoLA (all 1,043 dev sentences, logit MSE against the PyTorch sub-network, prototype of
this code): w0.5_d0.5 ``.pte`` 5.9e-4 all-INT8 -> 3.9e-4 with its most sensitive layer fp32, w0.25_d1 ``.pte``
5.4e-4 -> 3.0e-4 with its two most sensitive (where one gave 3.9e-4 and still lost 1.7 Matthews points: the
metric turns on a few near-tie sentences; see docs/results/cola-minilm.md).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .inputs import Inputs
from .wrapper import ExportWrapper

#: Sentences the ranking runs on (batch 1 each, once per layer plus once in fp32): enough to order layers
#: whose scores differ by 2x or more (CoLA: the first and last of six differ by 70x), and seconds of CPU.
RANKING_EXAMPLES = 64


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder layers of a BERT/RoBERTa classifier, in order (the indices the fallback names)."""
    return model.base_model.encoder.layer


def max_fp32_layers(num_layers: int) -> int:
    """At most half of the layers (at least one) stay fp32: beyond that the file is mostly an fp32 file."""
    return max(1, num_layers // 2)


def _fake_quant_weight(weight: torch.Tensor) -> torch.Tensor:
    scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
    return torch.clamp(torch.round(weight / scale), -127, 127) * scale


def _fake_quant_activation(x: torch.Tensor) -> torch.Tensor:
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = max(high - low, 1e-12) / 255
    zero = round(-low / scale)
    return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale


def _logits(model: nn.Module, inputs: Inputs) -> np.ndarray:
    wrapper = ExportWrapper(model, with_token_types="token_type_ids" in inputs.names).eval()
    with torch.no_grad():
        return np.concatenate([wrapper(*(torch.from_numpy(f[n]) for n in inputs.names)).numpy()
                               for f in inputs.features[:RANKING_EXAMPLES]])


def _with_layer_quantized(model: nn.Module, index: int) -> nn.Module:
    quantized = copy.deepcopy(model)
    for module in encoder_layers(quantized)[index].modules():
        if isinstance(module, nn.Linear):
            module.weight.data = _fake_quant_weight(module.weight.data)
            module.register_forward_pre_hook(lambda _module, args: (_fake_quant_activation(args[0]), *args[1:]))
    return quantized


def layer_sensitivity(model: nn.Module, inputs: Inputs) -> list[float]:
    """Per encoder layer: the mean squared change of the logits when that layer alone is INT8 (simulated)."""
    reference = _logits(model, inputs)
    return [float(np.mean((_logits(_with_layer_quantized(model, i), inputs) - reference) ** 2))
            for i in range(len(encoder_layers(model)))]


def fallback_plans(scores: Sequence[float]) -> list[tuple[int, ...]]:
    """The fp32 layer sets to try, in order: the most sensitive layer, the two most sensitive, ..."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [tuple(sorted(order[:k])) for k in range(1, max_fp32_layers(len(scores)) + 1)]

"""Importance of attention heads and FFN neurons (DynaBERT §3.1.2), scored on task data.

Head importance is the accumulated |d loss / d head_mask| (the mask multiplies the attention
probabilities); neuron importance is the first-order Taylor estimate |sum(w * dL/dw)| over the weights
that touch the neuron in the FFN's input and output layers. Gradients are zeroed after every batch so
that each batch contributes its own gradient once (the official code let them accumulate).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dynabert.adaptive import AdaptiveModel


@dataclass
class Importance:
    heads: torch.Tensor  # (num_layers, num_heads)
    neurons: torch.Tensor  # (num_layers, intermediate_size)


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for classification, MSE for a single regression output (STS-B)."""
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.squeeze(-1), labels.float())
    return F.cross_entropy(logits, labels)


def compute_importance(
    model: AdaptiveModel,
    batches: Iterable[dict[str, torch.Tensor]],
    max_batches: int | None = None,
    progress: bool = True,
) -> Importance:
    """Score every head and FFN neuron of the full model over ``batches`` (dicts with ``labels``)."""
    cfg = model.config
    device = next(model.parameters()).device
    head_mask = torch.ones(cfg.num_hidden_layers, cfg.num_attention_heads, device=device, requires_grad=True)
    heads = torch.zeros(cfg.num_hidden_layers, cfg.num_attention_heads, device=device)
    neurons = torch.zeros(cfg.num_hidden_layers, cfg.intermediate_size, device=device)
    layers = model.base.encoder.layer

    was_training = model.training
    model.eval()  # no dropout: importance should measure the weights, not the noise
    seen = 0
    for batch in tqdm(batches, desc="importance", total=max_batches, disable=not progress, leave=False):
        if max_batches is not None and seen >= max_batches:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(
            batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"), head_mask=head_mask
        )
        task_loss(out.logits, batch["labels"]).backward()
        heads += head_mask.grad.abs()
        for i, layer in enumerate(layers):
            w_in, b_in = layer.intermediate.dense.weight, layer.intermediate.dense.bias
            w_out = layer.output.dense.weight
            neurons[i] += ((w_in * w_in.grad).sum(dim=1) + b_in * b_in.grad).abs()
            neurons[i] += (w_out * w_out.grad).sum(dim=0).abs()
        model.zero_grad(set_to_none=True)
        head_mask.grad = None
        seen += 1
    model.train(was_training)
    if seen == 0:
        raise ValueError("importance needs at least one batch of data")
    return Importance(heads.detach().cpu(), neurons.detach().cpu())

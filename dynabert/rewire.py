"""Network rewiring (DynaBERT §3.1.2): reorder heads and FFN neurons, most important first.

After rewiring, every width's sub-network is a prefix of each weight, which is what lets
``AdaptiveModel`` and ``slice_subnetwork`` keep ``weight[:k]``. The permutation changes no function: at
full width and depth the logits are the same as before.
"""

from __future__ import annotations

import torch
from torch import nn

from dynabert.adaptive import AdaptiveModel
from dynabert.importance import Importance


def _permute_rows(linear: nn.Linear, index: torch.Tensor) -> None:
    linear.weight.data = linear.weight.data.index_select(0, index).contiguous()
    linear.bias.data = linear.bias.data.index_select(0, index).contiguous()


def _permute_cols(linear: nn.Linear, index: torch.Tensor) -> None:
    linear.weight.data = linear.weight.data.index_select(1, index).contiguous()


@torch.no_grad()
def rewire(model: AdaptiveModel, importance: Importance) -> dict[str, list[list[int]]]:
    """Permute the model's weights in place; return the orders applied (old indices, new order)."""
    cfg = model.config
    head_size = cfg.hidden_size // cfg.num_attention_heads
    orders: dict[str, list[list[int]]] = {"heads": [], "neurons": []}
    for i, layer in enumerate(model.base.encoder.layer):
        device = layer.intermediate.dense.weight.device
        head_order = torch.argsort(importance.heads[i], descending=True, stable=True)
        # Heads move as whole blocks of head_size rows of Q, K and V (and columns of the output).
        rows = (head_order[:, None] * head_size + torch.arange(head_size)).reshape(-1).to(device)
        sa = layer.attention.self
        for linear in (sa.query, sa.key, sa.value):
            _permute_rows(linear, rows)
        _permute_cols(layer.attention.output.dense, rows)

        neuron_order = torch.argsort(importance.neurons[i], descending=True, stable=True)
        _permute_rows(layer.intermediate.dense, neuron_order.to(device))
        _permute_cols(layer.output.dense, neuron_order.to(device))
        orders["heads"].append(head_order.tolist())
        orders["neurons"].append(neuron_order.tolist())
    return orders

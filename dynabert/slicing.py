"""Physical slicing: cut one sub-network out of the adaptive model into a standalone stock model.

The result is a plain ``BertForSequenceClassification`` / ``RobertaForSequenceClassification`` with
fewer layers, a smaller ``intermediate_size`` and ``pruned_heads`` set in its config, holding only the
kept weights: ``save_pretrained`` then ``AutoModelForSequenceClassification.from_pretrained`` reloads it
with stock transformers (which prunes the heads at construction, so the shapes match).
"""

from __future__ import annotations

import copy

import torch
from transformers import AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import SubnetSpec

_LAYER_PREFIX = "encoder.layer."


def sliced_config(config: PretrainedConfig, spec: SubnetSpec) -> PretrainedConfig:
    """The stock config of the sub-network ``spec`` cut out of a full-size model's ``config``."""
    cfg = copy.deepcopy(config)
    cfg.num_hidden_layers = len(spec.layers)
    cfg.intermediate_size = spec.intermediate_size
    dropped = list(range(spec.num_heads, config.num_attention_heads))
    cfg.pruned_heads = {i: dropped for i in range(len(spec.layers))} if dropped else {}
    # Provenance, saved in config.json so later stages (export, bench) need not recompute it.
    cfg.dynabert_subnet = {
        "width_mult": spec.width_mult,
        "depth_mult": spec.depth_mult,
        "source_layers": list(spec.layers),
        "num_heads": spec.num_heads,
        "intermediate_size": spec.intermediate_size,
    }
    return cfg


def _slice_layer_tensor(name: str, tensor: torch.Tensor, spec: SubnetSpec) -> torch.Tensor:
    """Keep the rows/columns of one encoder-layer tensor that the sub-network computes with."""
    k, n = spec.all_head_size, spec.intermediate_size
    if name.startswith(("attention.self.query.", "attention.self.key.", "attention.self.value.")):
        return tensor[:k]
    if name == "attention.output.dense.weight":
        return tensor[:, :k]
    if name.startswith("intermediate.dense."):
        return tensor[:n]
    if name == "output.dense.weight":
        return tensor[:, :n]
    return tensor  # LayerNorms and output biases live in the hidden size, which never shrinks


def slice_subnetwork(model: AdaptiveModel, width_mult: float, depth_mult: float) -> PreTrainedModel:
    """Return the sub-network ``(width_mult, depth_mult)`` as a standalone stock transformers model."""
    spec = model.spec(width_mult, depth_mult)
    cfg = sliced_config(model.config, spec)
    base_prefix = model.hf.base_model_prefix + "."
    source = model.hf.state_dict()
    layer_of = {new: old for new, old in enumerate(spec.layers)}

    state = {}
    for key, tensor in source.items():
        if key.startswith(base_prefix + _LAYER_PREFIX):
            rest = key[len(base_prefix + _LAYER_PREFIX):]
            old_idx, name = rest.split(".", 1)
            for new_idx in (i for i, old in layer_of.items() if old == int(old_idx)):
                state[f"{base_prefix}{_LAYER_PREFIX}{new_idx}.{name}"] = _slice_layer_tensor(name, tensor, spec)
        else:
            state[key] = tensor
    # clone(): a slice is a view that would keep the full-size storage alive (and be saved whole).
    state = {key: tensor.detach().clone().contiguous() for key, tensor in state.items()}

    sliced = AutoModelForSequenceClassification.from_config(cfg)
    missing, unexpected = sliced.load_state_dict(state, strict=False)
    # Non-persistent buffers (position_ids) are not in a state dict; anything else missing is a bug.
    missing = [m for m in missing if not m.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise RuntimeError(f"slicing produced mismatched weights: missing={missing} unexpected={unexpected}")
    return sliced.eval()

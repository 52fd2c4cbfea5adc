"""The adaptive BERT: one set of weights, any (width, depth) sub-network at forward time.

The weights live in a stock Hugging Face ``BertForSequenceClassification`` /
``RobertaForSequenceClassification`` (so checkpoints stay ordinary HF checkpoints); the forward pass is
written out here, like ``modeling_bert.py``, because the stock one cannot compute with a slice of each
weight. A sub-network multiplies only the kept rows/columns (``weight[:k]``, ``weight[:, :k]``) and
skips dropped layers entirely, so its compute really shrinks: nothing is masked or multiplied by zero.
Heads and neurons are kept as prefixes, which is what rewiring (``dynabert.rewire``) arranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN

from dynabert.arch import SubnetSpec, spec_for_config

SUPPORTED_MODEL_TYPES = ("bert", "roberta")


@dataclass
class AdaptiveOutput:
    """What distillation needs from one sub-network forward pass."""

    logits: torch.Tensor  # (batch, num_labels)
    embedding: torch.Tensor  # (batch, seq, hidden): the embedding layer's output
    hidden_states: tuple[torch.Tensor, ...]  # one (batch, seq, hidden) per kept layer, in order
    spec: SubnetSpec


class AdaptiveModel(nn.Module):
    """Runs any sub-network ``(width_mult, depth_mult)`` of a BERT/RoBERTa sequence classifier."""

    def __init__(self, hf_model: PreTrainedModel):
        super().__init__()
        config = hf_model.config
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"model type {config.model_type!r} is not supported; dynabert-edge handles {SUPPORTED_MODEL_TYPES}"
            )
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        if config.pruned_heads:
            raise ValueError("this model already has pruned heads: load the full-size model instead")
        self.hf = hf_model
        self.config = config
        self.act = ACT2FN[config.hidden_act]
        self._specs: dict[tuple[float, float], SubnetSpec] = {}
        self.train(hf_model.training)  # a fresh nn.Module is in training mode; follow the wrapped model

    @property
    def base(self) -> nn.Module:
        """The encoder stack (``bert`` or ``roberta``) of the wrapped model."""
        return self.hf.base_model

    def spec(self, width_mult: float = 1.0, depth_mult: float = 1.0) -> SubnetSpec:
        key = (float(width_mult), float(depth_mult))
        if key not in self._specs:
            self._specs[key] = spec_for_config(self.config, width_mult, depth_mult)
        return self._specs[key]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        *,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        head_mask: torch.Tensor | None = None,
    ) -> AdaptiveOutput:
        """Run one sub-network.

        ``head_mask`` (``num_layers x num_heads``, full-model indices) multiplies the attention
        probabilities; it exists so that importance scoring can take its gradient.
        """
        spec = self.spec(width_mult, depth_mult)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embedding = self.base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        # Additive mask, broadcast over heads and query positions: 0 where attended, dtype-min where padded.
        additive = (1.0 - attention_mask[:, None, None, :].to(embedding.dtype)) * torch.finfo(embedding.dtype).min

        hidden = embedding
        hidden_states = []
        for layer_idx in spec.layers:
            layer_mask = None if head_mask is None else head_mask[layer_idx, : spec.num_heads]
            hidden = self._layer(self.base.encoder.layer[layer_idx], hidden, additive, spec, layer_mask)
            hidden_states.append(hidden)
        return AdaptiveOutput(self._head(hidden), embedding, tuple(hidden_states), spec)

    def _layer(
        self,
        layer: nn.Module,
        x: torch.Tensor,
        additive_mask: torch.Tensor,
        spec: SubnetSpec,
        head_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        attn, k, n = layer.attention, spec.all_head_size, spec.intermediate_size
        sa = attn.self
        batch, seq, _ = x.shape

        def heads(linear: nn.Linear) -> torch.Tensor:
            out = F.linear(x, linear.weight[:k], linear.bias[:k])
            return out.view(batch, seq, spec.num_heads, spec.head_size).transpose(1, 2)

        q, key, v = heads(sa.query), heads(sa.key), heads(sa.value)
        dropout_p = sa.dropout.p if self.training else 0.0
        if head_mask is None:
            context = F.scaled_dot_product_attention(q, key, v, attn_mask=additive_mask, dropout_p=dropout_p)
        else:
            # Written out because the head mask must multiply the probabilities (paper §3.1.2).
            scores = q @ key.transpose(-1, -2) / math.sqrt(spec.head_size) + additive_mask
            probs = F.dropout(scores.softmax(dim=-1), dropout_p, self.training)
            context = (probs * head_mask.view(1, -1, 1, 1)) @ v
        context = context.transpose(1, 2).reshape(batch, seq, k)

        out = attn.output
        attn_out = out.LayerNorm(out.dropout(F.linear(context, out.dense.weight[:, :k], out.dense.bias)) + x)
        inter = layer.intermediate.dense
        mid = self.act(F.linear(attn_out, inter.weight[:n], inter.bias[:n]))
        ffn = layer.output
        return ffn.LayerNorm(ffn.dropout(F.linear(mid, ffn.dense.weight[:, :n], ffn.dense.bias)) + attn_out)

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.model_type == "bert":
            pooled = self.base.pooler(hidden)
            return self.hf.classifier(self.hf.dropout(pooled))
        return self.hf.classifier(hidden)  # RobertaClassificationHead pools the <s> token itself

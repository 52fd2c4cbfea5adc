"""The module every graph exporter traces: a sliced sub-model with eager attention and a plain mask.

Why not trace ``BertForSequenceClassification.forward`` directly: its SDPA mask helper branches on the
data (an all-ones mask becomes ``None``), which a tracer freezes into the graph and torch.export refuses,
and its additive mask uses ``finfo(float32).min``, which turns into ``-inf`` (then ``0 * -inf = NaN``)
under Core ML's fp16 compute. Here the stock submodules (embeddings, encoder, pooler, classifier) run
unchanged, loaded with ``attn_implementation="eager"``; only the mask is precomputed, additive and
4-D, with a value that fp16 holds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel

from dynabert.backbone import load_classifier_weights

#: exp(-1e4) is 0 in fp32 and fp16 alike, and -1e4 is representable in fp16 (finfo.min is not).
MASK_VALUE = -10000.0


def load_eager(hf_dir: str | Path) -> PreTrainedModel:
    """Reload an exported ``hf/`` folder with stock transformers and eager attention, in eval mode.

    Strict (every tensor present, none extra): a format made from an incomplete ``hf/`` would carry
    randomly initialised weights.
    """
    return load_classifier_weights(hf_dir, use_safetensors=True, attn_implementation="eager").eval()


class ExportWrapper(nn.Module):
    """``(input_ids, attention_mask[, token_type_ids]) -> logits`` for a BERT/RoBERTa sequence classifier."""

    def __init__(self, hf_model: PreTrainedModel, with_token_types: bool, cast_ids: bool = False):
        super().__init__()
        self.hf = hf_model
        self.with_token_types = with_token_types
        # Core ML feeds int32 ids; embedding lookups in the traced torch graph want int64.
        self.cast_ids = cast_ids

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.cast_ids:
            input_ids = input_ids.long()
            token_type_ids = None if token_type_ids is None else token_type_ids.long()
        base = self.hf.base_model
        if not self.with_token_types:
            token_type_ids = None
        embedding = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        additive = (1.0 - attention_mask[:, None, None, :].to(embedding.dtype)) * MASK_VALUE
        hidden = base.encoder(embedding, attention_mask=additive)[0]
        if self.hf.config.model_type == "roberta":
            return self.hf.classifier(hidden)  # RobertaClassificationHead pools <s> itself
        return self.hf.classifier(base.pooler(hidden))

"""The module every graph exporter traces: a sliced sub-model with eager attention and a plain mask.

Why not trace ``BertForSequenceClassification.forward`` directly: its SDPA mask helper branches on the
data (an all-ones mask becomes ``None``), which a tracer freezes into the graph and torch.export refuses,
and its additive mask uses ``finfo(float32).min``, which turns into ``-inf`` (then ``0 * -inf = NaN``)
under Core ML's fp16 compute. Here the stock submodules (embeddings, encoder, pooler, classifier) run
unchanged, loaded with ``attn_implementation="eager"``; only the mask is precomputed, additive and
4-D, with a value that fp16 holds.

The last encoder layer computes the first token only (:func:`first_token_layer`): the classifier reads
nothing else, so the other rows of that layer are work thrown away.
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
        layers = base.encoder.layer
        hidden = embedding
        for layer in layers[:-1]:
            hidden = layer(hidden, attention_mask=additive)[0]
        first = first_token_layer(layers[-1], hidden, additive)
        if self.hf.config.model_type == "roberta":
            return self.hf.classifier(first)  # RobertaClassificationHead pools <s> itself
        return self.hf.classifier(base.pooler(first))


def first_token_layer(layer: nn.Module, hidden: torch.Tensor, additive: torch.Tensor) -> torch.Tensor:
    """One BERT/RoBERTa encoder layer's output for the first token only, shape ``(batch, 1, hidden)``.

    BERT's pooler and RoBERTa's classification head read position 0 of the last layer and nothing else.
    In that layer only the first token's query, attention output and feed-forward rows are needed; keys
    and values still come from every token, so the result equals row 0 of the full layer (to float
    rounding). The stock attention block computes it as cross-attention: queries from ``hidden[:, :1]``,
    keys and values from ``hidden``, residual from ``hidden[:, :1]``. Measured (SST-2 MiniLM, ONNX Runtime
    INT8, seq 128, 1 thread, same run): w1_d1 7.05 -> 6.18 ms, w0.25_d0.5 1.35 -> 1.05 ms; the share saved
    grows as depth shrinks, since the last layer is a larger part of a shallow model.
    """
    attention = layer.attention(hidden[:, :1], attention_mask=additive, encoder_hidden_states=hidden)[0]
    return layer.feed_forward_chunk(attention)

"""Cut the embedding tables of the full model before any sub-model is sliced out of it.

No width or depth multiplier touches the embeddings, so on small sub-models they are most of the file:

* :func:`keep_word_rows` keeps the word-embedding rows of a task vocabulary (:mod:`export.vocab`), in the
  new ids' order, and sets ``config.vocab_size``;
* :func:`cut_positions` keeps the position rows the exported files can reach (``--max-length``) and sets
  ``config.max_position_embeddings``, so a sliced ``hf/`` folder reloads with stock transformers.

Both edit the wrapped Hugging Face model in place; every sub-model (and so every format) is cut from it.
transformers' ``resize_token_embeddings`` only truncates or appends rows, it cannot keep a subset in a
new order, and has nothing for the position table: hence the small hand-written edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedModel


def position_rows(config, max_length: int) -> int:
    """Rows of the position table that inputs of up to ``max_length`` tokens use.

    RoBERTa numbers positions from ``pad_token_id + 1`` (the rows below are never looked up by a token).
    """
    if config.model_type == "roberta":
        return max_length + config.pad_token_id + 1
    return max_length


def keep_word_rows(hf: PreTrainedModel, kept: Sequence[int], pad_token_id: int | None) -> None:
    """Keep rows ``kept`` (old ids, in the new ids' order) of the word-embedding table."""
    old = hf.get_input_embeddings()
    index = torch.as_tensor(list(kept), dtype=torch.long)
    if index.numel() == 0 or int(index.max()) >= old.num_embeddings or int(index.min()) < 0:
        raise ValueError(f"kept ids must lie in 0..{old.num_embeddings - 1}")
    new = nn.Embedding(index.numel(), old.embedding_dim, padding_idx=pad_token_id,
                       dtype=old.weight.dtype, device=old.weight.device)
    with torch.no_grad():
        new.weight.copy_(old.weight[index])
    hf.set_input_embeddings(new)
    hf.config.vocab_size = index.numel()
    if pad_token_id is not None:
        hf.config.pad_token_id = pad_token_id


def cut_positions(hf: PreTrainedModel, rows: int) -> None:
    """Keep the first ``rows`` rows of the position table (and of the buffers sized by it)."""
    embeddings = hf.base_model.embeddings
    old = embeddings.position_embeddings
    if not 1 <= rows <= old.num_embeddings:
        raise ValueError(f"position rows must be between 1 and {old.num_embeddings}, got {rows}")
    if rows == old.num_embeddings:
        return
    new = nn.Embedding(rows, old.embedding_dim, padding_idx=old.padding_idx, dtype=old.weight.dtype,
                       device=old.weight.device)
    with torch.no_grad():
        new.weight.copy_(old.weight[:rows])
    embeddings.position_embeddings = new
    # Non-persistent buffers sized by the table: the default position ids and (BERT) token type ids.
    for name in ("position_ids", "token_type_ids"):
        buffer = getattr(embeddings, name, None)
        if isinstance(buffer, torch.Tensor) and buffer.dim() == 2 and buffer.shape[1] > rows:
            setattr(embeddings, name, buffer[:, :rows].clone())
    hf.config.max_position_embeddings = rows

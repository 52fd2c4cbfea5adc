"""Shared fixtures: tiny random BERT/RoBERTa classifiers, the packaged MiniLM, the GLUE directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

REPO = Path(__file__).resolve().parents[1]
GLUE_DIR = REPO.parent / "shared" / "data" / "glue"


def tiny_hf_model(model_type: str = "bert", num_labels: int = 3, seed: int = 0):
    """A random 4-layer, 4-head classifier: small enough for every test, shaped like the real thing."""
    torch.manual_seed(seed)
    common = dict(vocab_size=120, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=64, num_labels=num_labels, max_position_embeddings=64)
    if model_type == "bert":
        return BertForSequenceClassification(BertConfig(**common)).eval()
    return RobertaForSequenceClassification(RobertaConfig(pad_token_id=1, **common)).eval()


def random_batch(vocab_size: int = 120, batch: int = 4, seq: int = 12, num_labels: int = 3, seed: int = 1):
    """Token ids with ragged padding, so masking is exercised."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab_size, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    for row in range(1, batch):
        mask[row, seq - 2 * row:] = 0
    ids = ids.masked_fill(mask == 0, 1)
    labels = torch.randint(0, num_labels, (batch,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    if not GLUE_DIR.is_dir():
        pytest.skip(f"real GLUE data not found at {GLUE_DIR}")
    return GLUE_DIR


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 with a fresh 2-label head (seeded), and its tokenizer."""
    from dynabert.backbone import load_classifier

    torch.manual_seed(0)
    return load_classifier("minilm", label_names=["negative", "positive"])

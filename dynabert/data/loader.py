"""Tokenize examples once, pad per batch, and shuffle in an order that can be replayed on resume.

Padding each batch only to its own longest sequence (not to ``max_length``) is what makes short-text
tasks like SST-2 cheap: most batches are a fraction of 128 tokens wide.

The batch order of epoch ``e`` is a pure function of ``(seed, e)``, so a run resumed at epoch ``e``,
batch ``k`` sees exactly the batches it would have seen::

    loader = make_dataloader(train, tokenizer, seed=run_seed)
    for epoch in range(start_epoch, epochs):
        loader.batch_sampler.set_epoch(epoch, skip_batches=start_batch if epoch == start_epoch else 0)
        for batch in loader:
            ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from transformers import DataCollatorWithPadding

from .records import Example


class TokenizedDataset(Dataset):
    """Examples tokenized up front (truncated, unpadded): one dict of token lists plus the label each."""

    def __init__(self, features: dict[str, list[list[int]]], labels: Sequence[int | float],
                 is_regression: bool) -> None:
        lengths = {len(column) for column in features.values()} | {len(labels)}
        if len(lengths) != 1:
            raise ValueError(f"feature columns and labels differ in length: {sorted(lengths)}")
        self.features = features
        self.labels = list(labels)
        self.is_regression = is_regression

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {key: column[index] for key, column in self.features.items()}
        item["labels"] = self.labels[index]
        return item


def _infer_regression(examples: Sequence[Example]) -> bool:
    kinds = {isinstance(ex.label, float) for ex in examples}
    if len(kinds) != 1:
        raise ValueError("examples mix int (class) and float (regression) labels; pass is_regression")
    return kinds.pop()


def tokenize_examples(examples: Sequence[Example], tokenizer: Any, *, max_length: int = 128,
                      is_regression: bool | None = None, chunk_size: int = 2048) -> TokenizedDataset:
    """Tokenize every example once, truncating to ``max_length`` tokens and not padding.

    ``is_regression`` defaults to "the labels are floats", which is what the readers produce.
    """
    if not examples:
        raise ValueError("no examples to tokenize")
    pairs = {ex.text_pair is None for ex in examples}
    if len(pairs) != 1:
        raise ValueError("examples mix single sentences and sentence pairs")
    has_pair = not pairs.pop()
    regression = _infer_regression(examples) if is_regression is None else is_regression
    features: dict[str, list[list[int]]] = {}
    # Chunks keep the fast tokenizer's peak memory flat on the 400k-example tasks (QQP, MNLI).
    for start in range(0, len(examples), chunk_size):
        chunk = examples[start:start + chunk_size]
        encoded = tokenizer(
            [ex.text for ex in chunk],
            [ex.text_pair for ex in chunk] if has_pair else None,
            truncation=True,
            max_length=max_length,
            padding=False,
        )
        for key, column in encoded.items():
            features.setdefault(key, []).extend(column)
    labels = [float(ex.label) if regression else int(ex.label) for ex in examples]
    return TokenizedDataset(features, labels, regression)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The torch generator that shuffles epoch ``epoch`` of a run seeded with ``seed``."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be non-negative, got seed={seed}, epoch={epoch}")
    # SeedSequence mixes (seed, epoch) so nearby runs and epochs get unrelated orders.
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class EpochBatchSampler(Sampler[list[int]]):
    """Yields batches of indices; epoch ``e``'s order depends only on ``(seed, e)``.

    Call :meth:`set_epoch` before each epoch (otherwise every epoch repeats one order);
    ``skip_batches`` resumes mid-epoch by dropping that many batches from its start.
    """

    def __init__(self, num_samples: int, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if num_samples <= 0 or batch_size <= 0:
            raise ValueError(f"num_samples and batch_size must be positive, got {num_samples}, {batch_size}")
        epoch_generator(seed, 0)  # validates the seed now rather than at the first iteration
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        if epoch < 0 or skip_batches < 0:
            raise ValueError(f"epoch and skip_batches must be non-negative, got {epoch}, {skip_batches}")
        if skip_batches > self.batches_per_epoch:
            raise ValueError(f"cannot skip {skip_batches} batches of an epoch of {self.batches_per_epoch}")
        self.epoch = epoch
        self.skip_batches = skip_batches

    @property
    def batches_per_epoch(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def epoch_order(self, epoch: int) -> list[int]:
        """The example indices of ``epoch`` in the order they are served."""
        if not self.shuffle:
            return list(range(self.num_samples))
        return torch.randperm(self.num_samples, generator=epoch_generator(self.seed, epoch)).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self.epoch_order(self.epoch)
        for b in range(self.skip_batches, self.batches_per_epoch):
            yield order[b * self.batch_size:(b + 1) * self.batch_size]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.skip_batches


def make_dataloader(examples: Sequence[Example] | TokenizedDataset, tokenizer: Any, *, batch_size: int = 32,
                    max_length: int = 128, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                    is_regression: bool | None = None, num_workers: int = 0,
                    pad_to_multiple_of: int | None = None) -> DataLoader:
    """A DataLoader of padded batches: ``input_ids``, ``attention_mask``, ``token_type_ids`` (when the
    tokenizer makes them) and ``labels`` (long for classification, float for regression).

    Its ``batch_sampler`` is an :class:`EpochBatchSampler`: call ``loader.batch_sampler.set_epoch(e)``
    each epoch. Pass a :class:`TokenizedDataset` to reuse a tokenization.
    """
    if isinstance(examples, TokenizedDataset):
        dataset = examples
    else:
        dataset = tokenize_examples(examples, tokenizer, max_length=max_length, is_regression=is_regression)
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token first")
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    # Pads each batch to its own longest row (tokenizer.pad: the tokenizer's pad id and padding side);
    # labels become long tensors for classes and float tensors for regression scores.
    collate = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers)

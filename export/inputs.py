"""Real inputs for verification (dev set) and static-quantization calibration (train set).

Each input is one tokenized example at its own length, batch 1, unpadded: what a phone feeds. The dev
inputs are spread over the length range (not the first N rows), so short and long sentences, and the
longest the model takes, are all checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynabert.checkpoint import META_FILE
from dynabert.data import DataError, Example, get_task, read_custom_file, read_glue_split
from dynabert.fileio import resolve_inside
from dynabert.files.data_source import DataSource as RecordedSource

from .formats import ExportError


@dataclass
class Inputs:
    """Tokenized examples: ``features[i][name]`` is an int64 array of shape (1, length_i)."""

    names: list[str]  # model input names, in the order the exported graphs take them
    features: list[dict[str, np.ndarray]]
    sources: list[str]  # "path:line" of each example
    split: str
    #: each example's gold label (class index, or score for a regression task); None for inputs built without
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.features)

    @property
    def lengths(self) -> list[int]:
        return [int(f["input_ids"].shape[1]) for f in self.features]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for feature in self.features:
            for name in self.names:
                digest.update(name.encode() + feature[name].astype(np.int64).tobytes())
        return digest.hexdigest()

    def padded_batches(self, batch_size: int, pad_token_id: int) -> list[tuple[list[int], dict[str, np.ndarray]]]:
        """(example indices, padded batch) pairs: ragged rows exercise the batch axis and the mask."""
        batches = []
        for start in range(0, len(self.features), batch_size):
            idx = list(range(start, min(start + batch_size, len(self.features))))
            width = max(self.lengths[i] for i in idx)
            batch = {}
            for name in self.names:
                pad = pad_token_id if name == "input_ids" else 0
                rows = np.full((len(idx), width), pad, dtype=np.int64)
                for row, i in enumerate(idx):
                    value = self.features[i][name][0]
                    rows[row, : value.shape[0]] = value
                batch[name] = rows
            batches.append((idx, batch))
        return batches


def model_input_names(tokenizer, model_type: str) -> list[str]:
    """The inputs the exported graphs take: ids and mask, plus token types where the model has them."""
    names = ["input_ids", "attention_mask"]
    # RoBERTa has a single token type, and its tokenizer does not produce token_type_ids.
    if model_type == "bert" and "token_type_ids" in tokenizer.model_input_names:
        names.append("token_type_ids")
    return names


# ---------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class DataSource:
    """Where the task's examples are: a GLUE directory, or custom CSV/TSV files (one per split)."""

    task: str
    glue_dir: Path | None = None
    files: dict[str, Path] | None = None  # split -> file, for a custom task
    label_names: tuple[str, ...] | None = None
    regression: bool = False

    @property
    def where(self) -> str:
        if self.glue_dir is not None:
            return str(self.glue_dir)
        return str((self.files or {}).get("dev", ""))

    def record(self, recorded: RecordedSource | None = None) -> RecordedSource:
        """The typed data source export used (for the manifest): these checked paths, with what training
        recorded about the text (pair, columns, origin, subset) where it said so."""
        pair = recorded.pair if recorded is not None else _is_pair(self)
        columns = recorded.text_columns if recorded is not None else (("text", "text_pair") if pair else ("text",))
        if self.glue_dir is not None:
            spec = get_task(self.task)
            return RecordedSource(self.task, "glue", data_dir=str(self.glue_dir), text_columns=columns,
                                  label_names=self.label_names, pair=spec.is_pair, regression=spec.is_regression,
                                  origin=recorded and recorded.origin, subset=recorded and recorded.subset)
        files = {split: str(path) for split, path in (self.files or {}).items()}
        return RecordedSource(self.task, "custom", data_dir=str(Path(files["dev"]).parent), files=files,
                              text_columns=columns, label_names=self.label_names, pair=pair,
                              regression=self.regression, origin=recorded and recorded.origin,
                              subset=recorded and recorded.subset)


def _is_pair(source: DataSource) -> bool:
    examples = _read(source, "dev")
    return bool(examples) and examples[0].text_pair is not None


def _is_glue(task: str) -> bool:
    try:
        get_task(task)
    except ValueError:
        return False
    return True


def _split_files(folder: Path) -> dict[str, Path]:
    files = {}
    for split in ("dev", "train"):
        for ext in (".csv", ".tsv", ".txt"):
            if (folder / f"{split}{ext}").is_file():
                files[split] = folder / f"{split}{ext}"
                break
    return files


def _recorded_path(value: object, field: str, ckpt: Path | None, is_file: bool = False) -> Path:
    """A data path from the checkpoint's metadata (``field``: ``data.files.dev``, or ``extra.data_dir`` in
    checkpoints written before the data source was typed).

    Training records absolute paths to the data it read (GLUE lives outside any checkpoint), and export
    only reads examples from them, never copies them into its outputs; a relative path is the
    checkpoint's own (resolved inside its folder, like every relative path in an untrusted file).
    """
    where = f"{ckpt / META_FILE if ckpt else META_FILE}: {field}"
    if not isinstance(value, str) or not value.strip():
        raise ExportError(f"{where} must be a path (a non-empty string), got {value!r}; pass --data-dir")
    path = Path(value)
    if not path.is_absolute():
        if ckpt is None:
            raise ExportError(f"{where} is relative ({value!r}) and there is no checkpoint folder to resolve it in")
        try:
            path = resolve_inside(ckpt, value, where)
        except ValueError as exc:
            raise ExportError(f"{exc}; pass --data-dir") from None
    # A FIFO or a device (/dev/stdin, /dev/zero) named as data would hang the run or exhaust memory.
    if is_file and path.exists() and not path.is_file():
        raise ExportError(f"{where}: {path} is not a regular file; pass --data-dir")
    return path


def _from_folder(task: str, folder: Path, names: tuple[str, ...] | None, regression: bool) -> DataSource:
    """A GLUE directory for a GLUE task; else the folder's ``dev``/``train`` files of the custom format."""
    if _is_glue(task):
        return DataSource(task, glue_dir=folder, label_names=names, regression=regression)
    files = _split_files(folder)
    if "dev" not in files:
        raise ExportError(f"no dev data for verification: {folder} has no dev.csv/dev.tsv for the custom task "
                          f"{task!r}; pass --data-dir")
    return DataSource(task, files=files, label_names=names, regression=regression)


def resolve_data(data_dir: str | Path | None, task: str, label_names: list[str] | None, extra: dict,
                 ckpt: Path | None = None, recorded: RecordedSource | None = None) -> DataSource:
    """The examples for ``task``: ``--data-dir`` if given, else where the checkpoint says training read them.

    ``recorded`` is the checkpoint's typed data source (``CheckpointMeta.data``); checkpoints written before
    it existed record ``extra["data"]`` (``format`` glue/custom, ``data_dir``, ``dev_file``, ``train_file``)
    and ``extra["data_dir"]``, still read here. A GLUE task reads a GLUE directory (or the task's folder);
    any other task reads ``dev``/``train`` files of the custom format (a header ``text[,text_pair],label``).
    ``ckpt`` is the checkpoint folder: relative recorded paths are resolved inside it.
    """
    names = tuple(label_names) if label_names is not None else None
    regression = label_names is None
    if data_dir is not None and not str(data_dir).strip():
        raise ExportError("--data-dir is empty; give a GLUE directory or the task's folder")
    if data_dir is not None:
        # Absolute: the manifest records it, and device_bench reads it from wherever it runs.
        return _from_folder(task, Path(data_dir).expanduser().resolve(), names, regression)
    if recorded is not None:
        if recorded.kind == "custom":
            files = {split: _recorded_path(path, f"data.files.{split}", ckpt, is_file=True)
                     for split, path in recorded.files.items()}
            return DataSource(task, files=files, label_names=names, regression=regression)
        return _from_folder(task, _recorded_path(recorded.data_dir, "data.data_dir", ckpt), names, regression)
    legacy = extra.get("data")
    if legacy is not None and not isinstance(legacy, dict):
        raise ExportError(f"{ckpt / META_FILE if ckpt else META_FILE}: extra.data must be an object, got "
                          f"{type(legacy).__name__}; pass --data-dir")
    legacy = legacy or {}
    if legacy.get("format") == "custom" and legacy.get("dev_file"):
        files = {split: _recorded_path(legacy[key], f"extra.data.{key}", ckpt, is_file=True)
                 for split, key in (("dev", "dev_file"), ("train", "train_file")) if legacy.get(key)}
        return DataSource(task, files=files, label_names=names, regression=regression)
    if legacy.get("data_dir") or extra.get("data_dir"):
        key = "extra.data.data_dir" if legacy.get("data_dir") else "extra.data_dir"
        folder = _recorded_path(legacy.get("data_dir") or extra.get("data_dir"), key, ckpt)
        return _from_folder(task, folder, names, regression)
    raise ExportError("no dev data for verification: the checkpoint records no data_dir; pass --data-dir "
                      "(a GLUE directory or the task's folder)")


def _read(source: DataSource, split: str) -> list[Example]:
    path = None if source.files is None else source.files.get(split)
    if source.glue_dir is None and path is None:
        raise ExportError(f"no {split} file for the custom task {source.task!r} (dev data: {source.where}); "
                          "pass --data-dir")
    try:
        if source.glue_dir is not None:
            return read_glue_split(source.glue_dir, get_task(source.task), split)
        return read_custom_file(path, is_regression=source.regression, label_names=source.label_names)
    except (DataError, ValueError) as exc:
        raise ExportError(f"cannot read the {source.task} {split} data: {exc}; pass --data-dir") from exc


# ---------------------------------------------------------------------------------------------- inputs


def _spread(examples: list[Example], tokenizer, n: int, max_length: int, rng_seed: int) -> list[int]:
    """Indices of ``n`` examples evenly spaced over the token-length order (ties broken by a fixed seed)."""
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None
    lengths = np.array([len(ids) for ids in tokenizer(texts, pairs, truncation=True, max_length=max_length)
                        ["input_ids"]])
    order = np.lexsort((np.random.default_rng(rng_seed).permutation(len(examples)), lengths))
    if n >= len(order):
        return order.tolist()
    picks = np.linspace(0, len(order) - 1, n).round().astype(int)
    return order[picks].tolist()


def tokenize(examples: list[Example], tokenizer, names: list[str], max_length: int) -> list[dict[str, np.ndarray]]:
    out = []
    for ex in examples:
        enc = tokenizer(ex.text, ex.text_pair, truncation=True, max_length=max_length, return_tensors="np")
        feature = {}
        for name in names:
            value = enc.get(name)
            if value is None:  # a tokenizer without token types: single-segment input
                value = np.zeros_like(enc["input_ids"])
            feature[name] = value.astype(np.int64)
        out.append(feature)
    return out


def load_inputs(source: DataSource, tokenizer, names: list[str], n: int, max_length: int, seed: int = 0) -> Inputs:
    """``n`` dev examples, spread over the length range, tokenized at their own lengths."""
    if n < 1:
        raise ExportError(f"--n-verify must be >= 1, got {n}")
    # Tokenizing the dev split to sort by length is cheap (SST-2: 872 rows); very large ones are capped.
    pool = _read(source, "dev")[:20_000]
    chosen = [pool[i] for i in _spread(pool, tokenizer, n, max_length, seed)]
    return Inputs(names, tokenize(chosen, tokenizer, names, max_length), [ex.source for ex in chosen], "dev",
                  np.asarray([ex.label for ex in chosen]))


def load_calibration(source: DataSource, tokenizer, names: list[str], n: int, max_length: int,
                     seed: int = 0) -> Inputs:
    """``n`` training examples for static (QDQ) calibration; never the dev examples used to verify."""
    examples = _read(source, "train")
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(examples), size=min(n, len(examples)), replace=False).tolist())
    chosen = [examples[i] for i in pick]
    return Inputs(names, tokenize(chosen, tokenizer, names, max_length), [ex.source for ex in chosen], "train")


def read_examples(source: DataSource, split: str) -> list[Example]:
    """Every example of ``split`` (``train``/``dev``); unreadable data raises ExportError naming the file."""
    return _read(source, split)

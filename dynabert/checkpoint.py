"""The DynaBERT checkpoint: what training writes and ``export.all --ckpt`` reads.

A directory holding an ordinary Hugging Face checkpoint (``config.json``, ``model.safetensors``, the
tokenizer files) plus ``dynabert.json``, which says what the weights are: the stage that produced them,
whether heads/neurons were rewired, the width/depth multipliers trained, the task and label names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import DEPTH_MULTS, WIDTH_MULTS
from dynabert.fileio import atomic_dir

FORMAT = "dynabert-edge/checkpoint"
FORMAT_VERSION = 1
META_FILE = "dynabert.json"
STAGES = ("teacher", "width", "depth", "finetune", "rewired")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the path and the problem."""


@dataclass
class CheckpointMeta:
    stage: str
    task: str
    label_names: list[str] | None  # None for regression
    rewired: bool
    width_mults: list[float] = field(default_factory=lambda: list(WIDTH_MULTS))
    depth_mults: list[float] = field(default_factory=lambda: list(DEPTH_MULTS))
    max_length: int = 128
    backbone: str = ""
    extra: dict = field(default_factory=dict)  # free-form provenance: steps, seed, metrics

    @property
    def is_regression(self) -> bool:
        return self.label_names is None


def save_checkpoint(path: str | Path, model: AdaptiveModel, tokenizer, meta: CheckpointMeta) -> Path:
    """Write the checkpoint atomically: into a temporary sibling directory, then one rename."""
    if meta.stage not in STAGES:
        raise ValueError(f"unknown stage {meta.stage!r}; expected one of {STAGES}")
    path = Path(path)
    # A complete checkpoint is on disk at every moment: the old one until the new one is renamed in.
    with atomic_dir(path) as tmp:
        model.hf.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        record = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(meta)}
        (tmp / META_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_meta(path: str | Path) -> CheckpointMeta:
    """Read and validate ``dynabert.json`` without loading any weights."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint directory")
    if not path.is_dir():
        raise CheckpointError(f"{path}: a checkpoint is a directory, this is a file")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise CheckpointError(
            f"{path}: not a dynabert-edge checkpoint (no {META_FILE}); train one with `python -m train.all`"
        )
    try:
        record = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_file}: corrupt metadata: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{meta_file}: not a dynabert-edge checkpoint (format is {record.get('format')!r})")
    if record.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{meta_file}: checkpoint version {record.get('version')} is not supported "
                              f"(this dynabert-edge reads version {FORMAT_VERSION})")
    fields = {k: v for k, v in record.items() if k not in ("format", "version")}
    try:
        return CheckpointMeta(**fields)
    except TypeError as exc:
        raise CheckpointError(f"{meta_file}: malformed metadata: {exc}") from exc


def load_checkpoint(path: str | Path, require_rewired: bool = False) -> tuple[AdaptiveModel, object, CheckpointMeta]:
    """Load a checkpoint as ``(AdaptiveModel, tokenizer, meta)``; refuse foreign or corrupt files."""
    path = Path(path)
    meta = read_meta(path)
    if require_rewired and not meta.rewired:
        raise CheckpointError(
            f"{path}: the weights were not rewired (stage {meta.stage!r}); sub-networks of a non-rewired "
            "model keep arbitrary heads. Export a checkpoint from `train.width`/`train.depth`."
        )
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{path}: missing model.safetensors")
    try:
        hf = AutoModelForSequenceClassification.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # safetensors, JSON and shape errors all mean the same thing to the user
        raise CheckpointError(f"{path}: corrupt or incomplete checkpoint: {type(exc).__name__}: {exc}") from exc
    return AdaptiveModel(hf.eval()), tokenizer, meta

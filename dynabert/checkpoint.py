"""The DynaBERT checkpoint: what training writes and ``export.all --ckpt`` reads.

A directory holding an ordinary Hugging Face checkpoint (``config.json``, ``model.safetensors``, the
tokenizer files) plus ``dynabert.json``, which says what the weights are: the stage that produced them,
whether heads/neurons were rewired, the width/depth multipliers trained, the task and label names, where
the task's data is. Its reader and writer are :mod:`dynabert.files.checkpoint_meta` (re-exported here).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer

from dynabert.adaptive import SUPPORTED_MODEL_TYPES, AdaptiveModel
from dynabert.backbone import WeightsError, load_classifier_weights
from dynabert.fileio import atomic_dir, inside
from dynabert.files.checkpoint_meta import (
    FORMAT,
    FORMAT_VERSION,
    META_FILE,
    STAGES,
    CheckpointError,
    CheckpointMeta,
    read_meta,
    write_meta,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "META_FILE", "STAGES", "CheckpointError", "CheckpointMeta", "load_checkpoint",
           "read_meta", "save_checkpoint"]


def save_checkpoint(path: str | Path, model: AdaptiveModel, tokenizer, meta: CheckpointMeta) -> Path:
    """Write the checkpoint atomically: into a temporary sibling directory, then one rename."""
    path = Path(path)
    # A complete checkpoint is on disk at every moment: the old one until the new one is renamed in.
    with atomic_dir(path) as tmp:
        model.hf.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_meta(tmp, meta)
    return path


#: Files one of which a checkpoint's tokenizer needs (fast tokenizer, WordPiece, BPE, SentencePiece).
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def _check_tokenizer_files(path: Path) -> None:
    """Refuse a checkpoint without tokenizer files, or whose tokenizer config names files elsewhere.

    Without this a missing tokenizer surfaces as ``TypeError: stat: ...`` deep inside transformers, and a
    ``tokenizer_config.json`` may name any file as its ``vocab_file`` (transformers prefers it to the
    folder's own), which would then be read, and saved into every export as the app's vocabulary.
    """
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise CheckpointError(f"{path}: no tokenizer files (one of {', '.join(_TOKENIZER_FILES)} is needed); "
                              "the checkpoint is incomplete")
    config_file = path / "tokenizer_config.json"
    if not config_file.is_file():
        return
    config = _json_object(config_file, "tokenizer config")
    for key, value in config.items():
        # special_tokens_map_file is provenance that old hub configs carry; transformers never opens it.
        if key.endswith("_file") and key != "special_tokens_map_file" and value is not None:
            if not isinstance(value, str) or not inside(path, path / value):
                raise CheckpointError(f"{config_file}: field {key!r} names {value!r}, outside the checkpoint "
                                      "folder; tokenizer files must be inside it")


def _json_object(file: Path, what: str) -> dict:
    """``file`` parsed as a JSON object, or one :class:`CheckpointError` line naming it."""
    try:
        config = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{file}: corrupt {what}: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{file}: the {what} must be a JSON object")
    return config


def _check_config(path: Path) -> None:
    """``config.json`` present, an object, of a supported model type: transformers' own errors for these are
    a type error from deep inside, or a list of every model type it knows."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{path}: missing config.json")
    config = _json_object(config_file, "model config")
    if config.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise CheckpointError(f"{config_file}: model_type {config.get('model_type')!r} is not supported "
                              f"(dynabert-edge handles {', '.join(SUPPORTED_MODEL_TYPES)})")


def load_checkpoint(path: str | Path, require_rewired: bool = False) -> tuple[AdaptiveModel, object, CheckpointMeta]:
    """Load a checkpoint as ``(AdaptiveModel, tokenizer, meta)``; refuse foreign, corrupt or incomplete files."""
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
    _check_config(path)
    _check_tokenizer_files(path)
    try:
        # use_safetensors: never fall back to a pickled pytorch_model.bin someone put next to it.
        hf = load_classifier_weights(path, use_safetensors=True)
    except WeightsError as exc:
        raise CheckpointError(f"{weights}: {exc}") from exc
    except Exception as exc:  # safetensors, JSON and shape errors all mean the same thing to the user
        raise CheckpointError(f"{path}: corrupt or incomplete checkpoint: {_one_line(exc)}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot load the tokenizer: {_one_line(exc)}") from exc
    outputs = hf.config.num_labels
    expected = 1 if meta.is_regression else len(meta.label_names)
    if outputs != expected:
        what = "regression (label_names null)" if meta.is_regression else f"{expected} labels {meta.label_names}"
        raise CheckpointError(f"{path}: {META_FILE} says {what}, but the model has {outputs} output(s)")
    try:
        model = AdaptiveModel(hf.eval())
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return model, tokenizer, meta


def _one_line(exc: BaseException) -> str:
    # The lines joined, not the first one: torch's shape errors say what is wrong on the second line.
    text = " ".join(line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip())
    return text[:400]

"""The DynaBERT checkpoint: what training writes and ``export.all --ckpt`` reads.

A directory holding an ordinary Hugging Face checkpoint (``config.json``, ``model.safetensors``, the
tokenizer files) plus ``dynabert.json``, which says what the weights are: the stage that produced them,
whether heads/neurons were rewired, the width/depth multipliers trained, the task and label names.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from transformers import AutoTokenizer

from dynabert.adaptive import SUPPORTED_MODEL_TYPES, AdaptiveModel
from dynabert.arch import DEPTH_MULTS, WIDTH_MULTS, subnet_name
from dynabert.backbone import WeightsError, load_classifier_weights
from dynabert.fileio import atomic_dir, inside

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
    except OSError as exc:
        raise CheckpointError(f"{meta_file}: cannot read: {exc.strerror}") from exc
    if not isinstance(record, dict):
        raise CheckpointError(f"{meta_file}: not a dynabert-edge checkpoint (a JSON {type(record).__name__}, "
                              "not an object)")
    if record.get("format") != FORMAT:
        raise CheckpointError(f"{meta_file}: not a dynabert-edge checkpoint (format is {record.get('format')!r})")
    if record.get("version") != FORMAT_VERSION or isinstance(record.get("version"), bool):  # true == 1
        raise CheckpointError(f"{meta_file}: checkpoint version {record.get('version')} is not supported "
                              f"(this dynabert-edge reads version {FORMAT_VERSION})")
    return _meta_from_record(record, meta_file)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_mults(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of numbers in (0, 1]"
    bad = [x for x in value if not _is_number(x) or not 0 < x <= 1]
    if bad:
        return f"must hold numbers in (0, 1], got {bad[0]!r}"
    # Distinct as folder names too (subnet_name formats with :g): 0.25 and 0.2500001 would share w0.25_d1.
    if len({subnet_name(x, 1.0) for x in value}) != len(value):
        return f"has duplicates: {value}"
    return None


def _check_labels(value: object) -> str | None:
    if value is None:
        return None  # regression
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(x, str) and x for x in value):
        return "must be null (regression) or a list of at least two non-empty strings"
    if len(set(value)) != len(value):
        return f"has duplicates: {value}"
    return None


#: What each field of dynabert.json must be: a check returning the problem, or None when the value is fine.
_FIELD_CHECKS = {
    "stage": lambda v: None if v in STAGES else f"must be one of {', '.join(STAGES)}",
    "task": lambda v: None if isinstance(v, str) and v.strip() else "must be a non-empty string",
    "label_names": _check_labels,
    "rewired": lambda v: None if isinstance(v, bool) else "must be true or false",
    "width_mults": _check_mults,
    "depth_mults": _check_mults,
    "max_length": lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= 1
    else "must be a whole number >= 1",
    "backbone": lambda v: None if isinstance(v, str) else "must be a string",
    "extra": lambda v: None if isinstance(v, dict) else "must be an object",
}


def _meta_from_record(record: dict, meta_file: Path) -> CheckpointMeta:
    """Check every field's type and range (a hand-edited or foreign file is the norm, not the exception)."""
    known = {f.name for f in fields(CheckpointMeta)}
    unknown = sorted(set(record) - known - {"format", "version"})
    if unknown:
        raise CheckpointError(f"{meta_file}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    required = [f.name for f in fields(CheckpointMeta) if f.default is MISSING and f.default_factory is MISSING]
    for name in required:
        if name not in record:
            raise CheckpointError(f"{meta_file}: field {name!r} is missing")
    for name, check in _FIELD_CHECKS.items():
        if name in record and (problem := check(record[name])) is not None:
            raise CheckpointError(f"{meta_file}: field {name!r} {problem} (got {_short(record[name])})")
    return CheckpointMeta(**{k: v for k, v in record.items() if k in known})


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


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

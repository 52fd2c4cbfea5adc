"""Task metrics as GLUE defines them, and the majority-class baseline a trained model must beat.

Which metrics each task reports, and which one is its main metric, is in :mod:`dynabert.data.tasks`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from .records import Example
from .tasks import TaskSpec, get_task


def _as_array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, possibly on GPU or requiring grad
        values = values.detach().float().cpu().numpy() if values.is_floating_point() else values.cpu().numpy()
    return np.asarray(values)


def _correlation(fn: Any, predictions: np.ndarray, labels: np.ndarray) -> float:
    # A constant input has no defined correlation (scipy returns nan with a warning). It carries no
    # signal, so score it 0: a nan would silently lose every max() in model selection.
    if np.ptp(predictions) == 0 or np.ptp(labels) == 0:
        return 0.0
    return float(fn(predictions, labels)[0])


def metric_value(name: str, predictions: Any, labels: Any) -> float:
    """One metric ("accuracy", "f1", "mcc", "pearson", "spearman") of class ids / scores vs. labels.

    F1 is binary, of class 1 (GLUE's positive class for MRPC and QQP).
    """
    preds, gold = _as_array(predictions), _as_array(labels)
    if name == "accuracy":
        return float(accuracy_score(gold, preds))
    if name == "f1":
        return float(f1_score(gold, preds, pos_label=1, average="binary", zero_division=0))
    if name == "mcc":
        return float(matthews_corrcoef(gold, preds))
    if name == "pearson":
        return _correlation(stats.pearsonr, preds.astype(np.float64), gold.astype(np.float64))
    if name == "spearman":
        return _correlation(stats.spearmanr, preds.astype(np.float64), gold.astype(np.float64))
    raise ValueError(f"unknown metric {name!r}; known: accuracy, f1, mcc, pearson, spearman")


def to_predictions(outputs: Any, task: str | TaskSpec) -> np.ndarray:
    """Class ids (argmax of ``[N, num_labels]`` logits) or scores (``[N]`` or ``[N, 1]``) as a 1-D array.

    1-D input to a classification task is taken to be class ids already.
    """
    spec = get_task(task)
    values = _as_array(outputs)
    if spec.is_regression:
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(f"{spec.display_name} is regression: expected [N] or [N, 1] outputs, "
                             f"got shape {values.shape}")
        return values.astype(np.float64)
    if values.ndim == 2:
        return values.argmax(axis=-1)
    if values.ndim != 1:
        raise ValueError(f"expected [N, num_labels] logits or [N] class ids, got shape {values.shape}")
    return values.astype(np.int64)


def compute_metrics(task: str | TaskSpec, outputs: Any, labels: Any) -> dict[str, float]:
    """All of ``task``'s metrics, e.g. ``{"f1": .., "accuracy": ..}`` for MRPC.

    ``outputs`` may be logits, class ids or regression scores (see :func:`to_predictions`); read the
    model-selection number with ``result[spec.main_metric]``.
    """
    spec = get_task(task)
    preds = to_predictions(outputs, spec)
    gold = _as_array(labels).reshape(-1)
    if len(preds) != len(gold):
        raise ValueError(f"{len(preds)} predictions for {len(gold)} labels")
    if len(gold) == 0:
        raise ValueError("no examples to score")
    return {name: metric_value(name, preds, gold) for name in spec.metric_names}


def majority_label(examples: Sequence[Example], task: str | TaskSpec) -> int | float:
    """The most common class id (the smallest on a tie), or the mean score for regression."""
    if not examples:
        raise ValueError("no examples to take a majority label from")
    if get_task(task).is_regression:
        return float(np.mean([float(ex.label) for ex in examples]))
    counts = Counter(int(ex.label) for ex in examples)
    return min(counts, key=lambda label: (-counts[label], label))


def majority_baseline(task: str | TaskSpec, train: Sequence[Example],
                      eval_examples: Sequence[Example]) -> dict[str, float]:
    """Metrics of always predicting the majority ``train`` label on ``eval_examples``.

    A model that does not beat this learned nothing. For regression the constant is the train mean,
    whose correlations are 0 (see :func:`metric_value`).
    """
    spec = get_task(task)
    constant = majority_label(train, spec)
    labels = [ex.label for ex in eval_examples]
    return compute_metrics(spec, np.full(len(labels), constant), labels)

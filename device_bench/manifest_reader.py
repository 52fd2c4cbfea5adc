"""Read and check ``manifest.json`` (schema: the docstring of ``export/manifest.py``).

device_bench trusts nothing but the manifest and the files it lists: each file must exist and still have
the SHA-256 the export recorded, otherwise the numbers would describe a file nobody verified. Problems
are :class:`BenchError` with a one-line message naming the manifest or artifact at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dynabert.fileio import sha256_path

#: The manifest schema this reader understands (``export.manifest.SCHEMA_VERSION``).
SCHEMA_VERSION = 1
#: Artifact statuses a consumer may use (``export.manifest.USABLE``); "failed" ones are listed, not run.
USABLE = ("passed", "unverified")


class BenchError(ValueError):
    """A problem the user can fix (bad manifest, missing or changed file, bad option): one line, exit 2."""


@dataclass(frozen=True)
class Artifact:
    id: str
    subnet: str
    width_mult: float
    depth_mult: float
    format: str
    precision: str
    runtime: str  # transformers | onnxruntime | onnxruntime-mobile | coreml | executorch-xnnpack
    path: Path  # absolute
    rel_path: str  # as written in the manifest
    is_dir: bool
    bytes: int
    sha256: str
    input_names: tuple[str, ...]
    input_dtypes: tuple[str, ...]
    max_length: int
    status: str
    raw: dict = field(repr=False, compare=False, hash=False)

    @property
    def is_full(self) -> bool:
        return self.width_mult == 1.0 and self.depth_mult == 1.0


@dataclass(frozen=True)
class Manifest:
    path: Path
    root: Path
    task: str
    label_names: list[str] | None
    num_labels: int
    is_regression: bool
    max_length: int
    model_type: str
    tokenizer_dir: Path
    vocab: Path | None
    labels_file: Path | None
    do_lower_case: bool | None
    pad_token_id: int
    data_dir: Path | None  # where export took its dev inputs
    subnets: list[dict]
    artifacts: list[Artifact]  # usable ones, in manifest order
    unusable: list[dict]  # {"id", "status", "errors"} of artifacts export marked failed
    raw: dict = field(repr=False)

    def hf_dir(self, subnet: str) -> Path | None:
        """The sub-model's ``hf/`` folder: its ``config.json`` is what FLOPs and parameters are counted from."""
        for a in self.artifacts:
            if a.subnet == subnet and a.format == "hf":
                return a.path
        return None

    @property
    def full_subnet(self) -> str | None:
        for s in self.subnets:
            if float(s["width_mult"]) == 1.0 and float(s["depth_mult"]) == 1.0:
                return s["name"]
        return None


def _require(record: dict, key: str, where: str, kind: type | tuple[type, ...]):
    if key not in record:
        raise BenchError(f"{where}: manifest entry has no {key!r}")
    value = record[key]
    if not isinstance(value, kind):
        raise BenchError(f"{where}: {key!r} should be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _artifact(record: dict, root: Path, where: str) -> Artifact:
    if not isinstance(record, dict):
        raise BenchError(f"{where}: an artifact entry is not an object: {record!r}")
    art_id = _require(record, "id", where, str)
    where = f"{where}: artifact {art_id}"
    rel = _require(record, "path", where, str)
    inputs = record.get("inputs") or [{"name": "input_ids", "dtype": "int64"}, {"name": "attention_mask",
                                                                                "dtype": "int64"}]
    return Artifact(
        id=art_id, subnet=_require(record, "subnet", where, str),
        width_mult=float(_require(record, "width_mult", where, (int, float))),
        depth_mult=float(_require(record, "depth_mult", where, (int, float))),
        format=_require(record, "format", where, str), precision=str(record.get("precision", "fp32")),
        runtime=_require(record, "runtime", where, str), path=(root / rel).resolve(), rel_path=rel,
        is_dir=bool(record.get("is_dir", False)), bytes=int(record.get("bytes") or 0),
        sha256=str(record.get("sha256") or ""),
        input_names=tuple(i["name"] for i in inputs), input_dtypes=tuple(i.get("dtype", "int64") for i in inputs),
        max_length=int(record.get("max_length") or 0), status=str(record.get("status", "")), raw=record,
    )


def read_manifest(path: str | Path, *, verify_files: bool = True, include_failed: bool = False) -> Manifest:
    """Parse ``manifest.json`` and check every usable artifact's file (exists; SHA-256 when ``verify_files``).

    ``include_failed`` also returns artifacts that failed export verification and whose file exists (their
    ``status`` stays "failed", so the table can flag them); the others stay in ``unusable``.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise BenchError(f"{path}: no such manifest (run `python -m export.all --ckpt CKPT` first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not a valid manifest: {exc}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a valid manifest: top level is not a JSON object")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise BenchError(f"{path}: manifest schema_version {data.get('schema_version')!r}; device_bench reads "
                         f"version {SCHEMA_VERSION}")
    where = str(path)
    root = path.parent.resolve()
    records = _require(data, "artifacts", where, list)
    subnets = _require(data, "subnets", where, list)
    task = _require(data, "task", where, str)
    tok = data.get("tokenizer") or {}
    if not isinstance(tok, dict) or not tok.get("dir"):
        raise BenchError(f"{where}: manifest has no tokenizer folder ('tokenizer.dir')")
    tokenizer_dir = (root / tok["dir"]).resolve()
    if not tokenizer_dir.is_dir():
        raise BenchError(f"{where}: the tokenizer folder {tokenizer_dir} listed in the manifest does not exist")
    usable, unusable = [], []
    for record in records:
        artifact = _artifact(record, root, where)
        failed_but_wanted = include_failed and artifact.status not in USABLE and artifact.path.exists()
        if artifact.status not in USABLE and not failed_but_wanted:
            unusable.append({"id": artifact.id, "status": artifact.status, "errors": record.get("errors") or []})
            continue
        if not artifact.path.exists():
            raise BenchError(f"{artifact.id}: file {artifact.path} listed in {path} does not exist")
        if verify_files and artifact.sha256:
            actual = sha256_path(artifact.path)
            if actual != artifact.sha256:
                raise BenchError(f"{artifact.id}: {artifact.path} has sha256 {actual[:12]}…, the manifest says "
                                 f"{artifact.sha256[:12]}…: the file changed after export; re-run export.all")
        usable.append(artifact)
    if not usable:
        raise BenchError(f"{path}: no usable artifact (statuses: "
                         f"{sorted({r.get('status') for r in records if isinstance(r, dict)}) or 'none listed'})")
    verification = data.get("verification") or {}
    vocab = tok.get("vocab")
    labels = data.get("labels")
    return Manifest(
        path=path.resolve(), root=root, task=task, label_names=data.get("label_names"),
        num_labels=int(data.get("num_labels") or (1 if data.get("is_regression") else 2)),
        is_regression=bool(data.get("is_regression", False)), max_length=int(data.get("max_length") or 128),
        model_type=str((data.get("checkpoint") or {}).get("model_type") or "bert"),
        tokenizer_dir=tokenizer_dir, vocab=(root / vocab).resolve() if vocab else None,
        labels_file=(root / labels).resolve() if labels else None, do_lower_case=tok.get("do_lower_case"),
        pad_token_id=int(tok.get("pad_token_id") or 0),
        data_dir=Path(verification["data"]) if verification.get("data") else None,
        subnets=[s for s in subnets if isinstance(s, dict) and "name" in s], artifacts=usable, unusable=unusable,
        raw=data,
    )

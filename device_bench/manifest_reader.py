"""device_bench's reading of ``manifest.json``: the typed reader (:mod:`dynabert.files.manifest`) plus the
checks of the files it lists.

device_bench trusts nothing but the manifest and the files it lists: each file must exist and still have
the SHA-256 the export recorded, otherwise the numbers would describe a file nobody verified. Problems
are :class:`BenchError` with a one-line message naming the manifest or artifact at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dynabert.fileio import sha256_path
from dynabert.files.fields import StageFileError
from dynabert.files.manifest import USABLE, Artifact, manifest_path
from dynabert.files.manifest import Manifest as _Manifest
from dynabert.files.manifest import read_manifest as _read

__all__ = ["USABLE", "Artifact", "BenchError", "Manifest", "read_manifest"]


class BenchError(ValueError):
    """A problem the user can fix (bad manifest, missing or changed file, bad option): one line, exit 2."""


@dataclass(frozen=True)
class Manifest(_Manifest):
    """The typed manifest with ``artifacts`` narrowed to the usable ones and the failed ones in ``unusable``."""

    unusable: list[dict] | None = None  # {"id", "status", "errors"} of artifacts export marked failed


def _check_tree(folder: Path, root: Path, where: str) -> None:
    """A directory artifact (``hf/``, ``.mlpackage``) must not hold a symlink to a file outside ``root``."""
    for item in folder.rglob("*"):
        if item.is_symlink() and not item.resolve().is_relative_to(root):
            raise BenchError(f"{where}: 'path' refused: {item.relative_to(root).as_posix()} is a symlink to "
                             f"{item.resolve()}, outside {root}")


def _check_file(artifact: Artifact, root: Path, path: Path, verify_files: bool) -> None:
    if not artifact.path.exists():
        raise BenchError(f"{artifact.id}: file {artifact.path} listed in {path} does not exist")
    if artifact.path.is_dir():
        _check_tree(artifact.path, root, f"{path}: artifact {artifact.id}")
    if verify_files and not artifact.sha256:
        raise BenchError(f"{path}: artifact {artifact.id}: no 'sha256' to check {artifact.rel_path} against "
                         f"(re-run export.all, or pass --no-verify-sha to trust the file)")
    if verify_files:
        actual = sha256_path(artifact.path)
        if actual != artifact.sha256:
            raise BenchError(f"{artifact.id}: {artifact.path} has sha256 {actual[:12]}…, the manifest says "
                             f"{artifact.sha256[:12]}…: the file changed after export; re-run export.all")


def read_manifest(path: str | Path, *, verify_files: bool = True, include_failed: bool = False) -> Manifest:
    """Parse ``manifest.json`` and check every usable artifact's file (exists; SHA-256 when ``verify_files``).

    ``include_failed`` also returns artifacts that failed export verification and whose file exists (their
    ``status`` stays "failed", so the table can flag them); the others stay in ``unusable``.
    """
    path = manifest_path(path)
    try:
        typed = _read(path)
    except StageFileError as exc:
        raise BenchError(str(exc)) from None
    if not typed.tokenizer_dir.is_dir():
        raise BenchError(f"{path}: the tokenizer folder {typed.tokenizer_dir} listed in the manifest does not exist")
    usable, unusable = [], []
    for artifact in typed.artifacts:
        failed_but_wanted = include_failed and artifact.status not in USABLE and artifact.path.exists()
        if artifact.status not in USABLE and not failed_but_wanted:
            unusable.append({"id": artifact.id, "status": artifact.status,
                             "errors": artifact.raw.get("errors") or []})
            continue
        _check_file(artifact, typed.root, path, verify_files)
        usable.append(artifact)
    if not usable:
        statuses = sorted({a.status for a in typed.artifacts}) or "none listed"
        raise BenchError(f"{path}: no usable artifact (statuses: {statuses})")
    fields = {name: getattr(typed, name) for name in _Manifest.__dataclass_fields__}
    return Manifest(**{**fields, "artifacts": usable}, unusable=unusable)

"""export's side of ``manifest.json``: the schema, reader and writer live in :mod:`dynabert.files.manifest`.

What is export's own here: which previous records a resume may trust, given the file name export gives
each format (:data:`export.formats.FORMATS`).
"""

from __future__ import annotations

from pathlib import Path

from dynabert.files.manifest import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    USABLE,
    ArtifactRecord,
    SubnetRecord,
    load_previous,
    now,
    summarize,
    write_manifest,
)
from dynabert.files.manifest import trusted_artifact as _trusted

__all__ = ["MANIFEST_NAME", "SCHEMA_VERSION", "USABLE", "ArtifactRecord", "SubnetRecord", "artifacts_by_id", "load",
           "now", "save", "summarize", "trusted_artifact"]


def expected_path(subnet: str, fmt: str) -> str | None:
    """Where export writes ``fmt`` of ``subnet`` (relative to the manifest); None for an unknown format."""
    from .formats import FORMATS

    return f"{subnet}/{FORMATS[fmt].filename.rstrip('/')}" if fmt in FORMATS else None


def trusted_artifact(art: object) -> bool:
    return _trusted(art, expected_path)


def load(path: Path) -> dict | None:
    """The previous run's manifest for resuming (untrusted records dropped), or None."""
    return load_previous(path, expected_path)


def artifacts_by_id(manifest: dict | None) -> dict[str, dict]:
    if not manifest:
        return {}
    return {a["id"]: a for a in manifest.get("artifacts", []) if trusted_artifact(a)}


def save(path: Path, manifest: dict) -> None:
    write_manifest(path, manifest)

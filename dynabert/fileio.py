"""Atomic writes and checksums, for every stage's outputs (checkpoints, exported files, benchmark tables).

Every output is written under a temporary sibling name and renamed into place, so a Ctrl-C or a
``kill -9`` leaves either the old complete file, the new complete file, or a temporary name that the next
run deletes (:func:`remove_stale_temps`) and never trusts. The checksum of a directory (``hf/``,
``.mlpackage``) covers its files' relative paths and contents, so export and device_bench agree on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Temporary names look like ``.model.onnx.<random>.tmp``: hidden, and matched by the repo's ``*.tmp`` ignore.
TMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20


def _tmp_name(final: Path) -> str:
    return f".{final.name}."


@contextmanager
def atomic_file(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it onto ``final`` if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_tmp_name(final), suffix=TMP_SUFFIX, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be read by others (CI, the app build)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``final``; swap it in for ``final`` if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_name(final), suffix=TMP_SUFFIX, dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        if final.exists():
            # A directory cannot be replaced in one rename: move the old one aside under a temporary name
            # first, so that a kill between the two renames leaves nothing a re-run would trust.
            old = Path(tempfile.mkdtemp(prefix=_tmp_name(final), suffix=".old" + TMP_SUFFIX, dir=final.parent))
            os.rmdir(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(final: str | Path, text: str) -> Path:
    with atomic_file(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def write_json_atomic(final: str | Path, obj, *, allow_nan: bool = True) -> Path:
    """``obj`` as indented JSON; ``allow_nan=False`` refuses NaN/inf (not JSON) instead of writing them."""
    return write_text_atomic(final, json.dumps(obj, indent=2, allow_nan=allow_nan) + "\n")


def write_report(folder: str | Path, stem: str, record, text: str) -> tuple[Path, Path]:
    """A benchmark's two result files, ``folder/<stem>.json`` (``record``) and ``folder/<stem>.md`` (``text``),
    each written atomically (``folder`` is created); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(folder / f"{stem}.json", record), write_text_atomic(folder / f"{stem}.md", text)


def _fsync(path: Path) -> None:
    # Without fsync a power cut after the rename can leave a renamed but empty file on some filesystems.
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def remove_stale_temps(root: str | Path, recursive: bool = True, finals: Iterable[str] | None = None) -> list[Path]:
    """Delete temporary files/directories left under ``root`` by an interrupted run; return them.

    ``recursive=False`` looks only at ``root``'s own entries (a temporary name is always a sibling of the
    final one), and ``finals`` only at the temporaries of those final names: for a folder that may hold
    other programs' files.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = root.rglob(f".*{TMP_SUFFIX}") if recursive else root.glob(f".*{TMP_SUFFIX}")
    prefixes = tuple(_tmp_name(Path(name)) for name in finals) if finals is not None else (".",)
    stale = [p for p in found if p.name.startswith(prefixes)]
    # Shallowest first, so that whatever lies inside an already-removed temporary directory is skipped.
    removed: list[Path] = []
    for path in sorted(stale, key=lambda p: len(p.parts)):
        if any(parent in removed for parent in path.parents):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def inside(folder: str | Path, path: str | Path) -> bool:
    """Whether ``path`` (symlinks and ``..`` resolved) lies inside ``folder``: the test every path read from
    an untrusted file (checkpoint metadata, a manifest, a results file) passes before it is opened."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False
    return True


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())


def path_bytes(path: str | Path) -> int:
    """Size of a file, or the total size of the files in a directory."""
    return sum(p.stat().st_size for p in _files(Path(path)))


def sha256_path(path: str | Path) -> str:
    """SHA-256 of a file; for a directory, of its files' relative paths and contents in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    is_dir = path.is_dir()
    for file in _files(path):
        if is_dir:
            # Names are hashed too, so renaming a file inside an .mlpackage changes the checksum.
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        if is_dir:
            digest.update(b"\0")
    return digest.hexdigest()


class PathEscapeError(ValueError):
    """A path read from an untrusted file (manifest, results) points outside the folder it belongs to."""


def resolve_inside(root: str | Path, relative: object, what: str | None = None) -> Path:
    """``root / relative`` resolved (symlinks followed); :class:`PathEscapeError` unless it stays in ``root``.

    Manifests, results files and checkpoint metadata may come from someone else: an entry like
    ``../../etc/passwd``, an absolute path or a symlink pointing out of the folder must not make a stage
    read or copy a file elsewhere. ``what`` (e.g. ``"dynabert.json: extra.data_dir"``) starts the message.
    """
    prefix = f"{what} " if what else ""
    if not isinstance(relative, str) or not relative.strip():
        raise PathEscapeError(f"{prefix}must be a non-empty relative path, got {relative!r}")
    if Path(relative).is_absolute():
        raise PathEscapeError(f"{prefix}{relative!r} is an absolute path; only paths inside {root} are accepted")
    base = Path(root).resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a NUL byte; a symlink loop (RuntimeError before 3.13)
        raise PathEscapeError(f"{prefix}{relative!r} cannot be resolved: {exc}") from None
    if not path.is_relative_to(base):
        raise PathEscapeError(f"{prefix}{relative!r} points outside {base}")
    return path

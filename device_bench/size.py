"""Bytes on disk, and bytes as zip deflate would store them in an APK.

The deflate size is exact: the file is compressed the way a zip entry is (raw deflate, zlib level 6,
zip's default), not estimated. Note that the demo app stores ``.onnx``/``.ort`` files uncompressed
(``noCompress``, so ONNX Runtime can map them), where an APK grows by the bytes on disk; the deflate
number is what a download or a compressed asset costs.
"""

from __future__ import annotations

import zlib
from pathlib import Path

#: zip's default deflate level (what ``zip``, ``zipfile`` and the Android packagers use unless told otherwise).
DEFLATE_LEVEL = 6
_CHUNK = 1 << 22


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def disk_bytes(path: str | Path) -> int:
    """Size of a file, or the total of the files in a directory."""
    return sum(p.stat().st_size for p in _files(Path(path)))


def deflate_bytes(path: str | Path, level: int = DEFLATE_LEVEL) -> int:
    """Compressed size of the file (or of each file of a directory, summed) as zip entries, without headers."""
    total = 0
    for file in _files(Path(path)):
        # wbits=-15: raw deflate, exactly what a zip entry holds.
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        with open(file, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                total += len(compressor.compress(chunk))
        total += len(compressor.flush())
    return total


def size_record(path: str | Path) -> dict:
    return {"bytes": disk_bytes(path), "deflate_bytes": deflate_bytes(path)}

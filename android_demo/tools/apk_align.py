"""Page-align an APK's native libraries for 16 KB-page Android devices, and check an APK for it.

    python android_demo/tools/apk_align.py align IN.apk OUT.apk [--page-kb 16]
    python android_demo/tools/apk_align.py check APK [--page-kb 16]

Android 15+ devices with 16 KB memory pages map `lib/<abi>/*.so` straight from the APK, so each must be
stored uncompressed at an offset that is a multiple of 16384, and its ELF LOAD segments must be aligned
to 16 KB too. `zipalign -P 16` does the first, but Debian 12's zipalign predates the -P flag (it only
knows -p, 4 KB pages), hence this small tool. It writes the alignment the way zipalign does, in an
"Android alignment" extra field (0xD935: the alignment, then zero padding), because apksigner reads
that field and keeps the alignment when it signs. Every other stored entry is aligned to 4 bytes (what
`zipalign 4` does, for assets such as the model files that are memory-mapped).

`check` fails (exit 2, one line per problem) on a compressed or misaligned .so, a stored entry off
4-byte alignment, or a .so whose ELF LOAD segments are aligned below the page size.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zipfile
from pathlib import Path

ALIGNMENT_EXTRA_ID = 0xD935  # zipalign's / apksigner's "Android alignment" extra field
LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature .. extra field length: 30 bytes
STORED_ALIGNMENT = 4


def _without_alignment_field(extra: bytes) -> bytes:
    """The extra fields minus any earlier alignment field (and zipalign's bare zero padding)."""
    kept, i = b"", 0
    while i + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, i)
        if field_id == 0 and size == 0:  # zero padding written by an older zipalign
            break
        if field_id != ALIGNMENT_EXTRA_ID:
            kept += extra[i:i + 4 + size]
        i += 4 + size
    return kept


def _alignment_for(info: zipfile.ZipInfo, page: int) -> int:
    if info.compress_type != zipfile.ZIP_STORED:
        return 1
    return page if info.filename.endswith(".so") else STORED_ALIGNMENT


def align(src: Path, dst: Path, page: int) -> None:
    tmp = dst.with_name(dst.name + ".part")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".so") and info.compress_type != zipfile.ZIP_STORED:
                raise SystemExit(f"ERROR: apk_align: {src}: {info.filename} is compressed; native libraries "
                                 "must be stored (aapt -0 so / zip -0)")
            new = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            new.compress_type = info.compress_type
            new.external_attr = info.external_attr
            new.create_system = info.create_system
            extra = _without_alignment_field(info.extra)
            alignment = _alignment_for(info, page)
            if alignment > 1:
                # The data starts after the 30-byte local header, the name and the extra fields.
                start = zout.fp.tell() + LOCAL_HEADER.size + len(info.filename.encode("utf-8")) + len(extra)
                padding = -(start + 6) % alignment
                extra += struct.pack("<HHH", ALIGNMENT_EXTRA_ID, 2 + padding, alignment) + b"\0" * padding
            new.extra = extra
            zout.writestr(new, data)
    tmp.replace(dst)


def _data_offset(fp, info: zipfile.ZipInfo) -> int:
    fp.seek(info.header_offset)
    fields = LOCAL_HEADER.unpack(fp.read(LOCAL_HEADER.size))
    name_len, extra_len = fields[-2], fields[-1]
    return info.header_offset + LOCAL_HEADER.size + name_len + extra_len


def _elf_load_alignments(data: bytes) -> list[int]:
    """p_align of every PT_LOAD segment of an ELF file (32- or 64-bit, little-endian)."""
    if data[:4] != b"\x7fELF":
        return []
    is64 = data[4] == 2
    if is64:
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    else:
        phoff, = struct.unpack_from("<I", data, 0x1C)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
    aligns = []
    for k in range(phnum):
        off = phoff + k * phentsize
        p_type, = struct.unpack_from("<I", data, off)
        if p_type == 1:  # PT_LOAD
            aligns.append(struct.unpack_from("<Q", data, off + 48)[0] if is64
                          else struct.unpack_from("<I", data, off + 28)[0])
    return aligns


def check(apk: Path, page: int) -> list[str]:
    problems = []
    with zipfile.ZipFile(apk) as z, open(apk, "rb") as fp:
        for info in z.infolist():
            is_lib = info.filename.startswith("lib/") and info.filename.endswith(".so")
            if is_lib and info.compress_type != zipfile.ZIP_STORED:
                problems.append(f"{apk}: {info.filename} is compressed (must be stored)")
                continue
            alignment = _alignment_for(info, page)
            if alignment > 1 and _data_offset(fp, info) % alignment:
                problems.append(f"{apk}: {info.filename} starts at {_data_offset(fp, info)}, "
                                f"not a multiple of {alignment}")
            if is_lib:
                low = [a for a in _elf_load_alignments(z.read(info)) if a < page]
                if low:
                    problems.append(f"{apk}: {info.filename} has ELF LOAD segments aligned to {min(low)} bytes "
                                    f"(< {page})")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("align", help="write OUT.apk with .so files page-aligned, other stored files 4-aligned")
    a.add_argument("src", type=Path)
    a.add_argument("dst", type=Path)
    c = sub.add_parser("check", help="exit 2 unless every .so is stored, page-aligned and 16 KB-ELF-aligned")
    c.add_argument("apk", type=Path)
    for s in (a, c):
        s.add_argument("--page-kb", type=int, default=16, choices=(4, 16, 64), help="page size in KB (default 16)")
    args = p.parse_args(argv)
    page = args.page_kb * 1024
    if args.cmd == "align":
        align(args.src, args.dst, page)
        return 0
    problems = check(args.apk, page)
    for line in problems:
        print(f"ERROR: apk_align: {line}", file=sys.stderr)
    if problems:
        return 2
    with zipfile.ZipFile(args.apk) as z:
        libs = [i for i in z.infolist() if i.filename.endswith(".so")]
    print(f"apk_align: OK {args.apk}: {len(libs)} native libraries stored and {args.page_kb} KB-aligned")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Readers for GLUE-layout directories and custom CSV/TSV files.

Every problem with the input becomes a :class:`DataError` that names the file and, for a bad row, its
1-based line, instead of a traceback from ``csv`` or ``int()`` deep inside a training run.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .records import DataError, Example
from .tasks import TaskSpec, get_task

# Header names of the custom format.
_TEXT, _PAIR, _LABEL = "text", "text_pair", "label"


class _RowError(Exception):
    """A bad row; turned into a DataError (or skipped) by the caller, which knows the line."""


@dataclass(frozen=True)
class _Layout:
    text: int
    pair: int | None
    label: int
    num_columns: int


LabelParser = Callable[[str], "int | float"]


# ---------------------------------------------------------------------------------------------- files


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(path, f"cannot read file: {err.strerror or err}") from None
    # MRPC starts with a UTF-8 BOM; left in, it would become part of the first header name.
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(path, f"not valid UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8",
                        line) from None
    if not text.strip():
        raise DataError(path, "file is empty", 1)
    return text


def _iter_rows(path: Path, text: str, delimiter: str, quoted: bool) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, fields) of each non-blank row."""
    if not quoted:
        # GLUE files are unquoted: MRPC and MNLI have lone '"' inside fields, which a quoting reader
        # would take as the start of a field spanning many lines. Splitting by hand is QUOTE_NONE.
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if line.strip():
                yield number, line.split(delimiter)
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataError(path, f"malformed CSV: {err}", start) from None
        # line_num is where the record ended; a quoted field may span lines, so report where it began.
        if any(field.strip() for field in fields):
            yield start, fields
        start = reader.line_num + 1


def _first_row(path: Path, rows: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    first = next(rows, None)
    if first is None:
        raise DataError(path, "file is empty", 1)
    return first


def _resolve_header(path: Path, line: int, header: Sequence[str], wanted: Sequence[str | None],
                    what: str) -> list[int | None]:
    names = [name.strip() for name in header]
    lowered = [name.lower() for name in names]
    found: list[int | None] = []
    missing = []
    for name in wanted:
        if name is None:
            found.append(None)
        elif name.lower() in lowered:
            found.append(lowered.index(name.lower()))
        else:
            found.append(None)
            missing.append(name)
    if missing:
        raise DataError(path, f"header has no column {', '.join(map(repr, missing))} (found: "
                              f"{', '.join(map(repr, names))}); is this {what}?", line)
    return found


def _build_examples(path: Path, rows: Iterator[tuple[int, list[str]]], layout: _Layout,
                    parse_label: LabelParser, skip_bad_rows: bool) -> list[Example]:
    examples: list[Example] = []
    bad: list[DataError] = []
    last_line = 1
    for line, fields in rows:
        last_line = line
        try:
            if len(fields) != layout.num_columns:
                raise _RowError(f"expected {layout.num_columns} fields, found {len(fields)}")
            raw_label = fields[layout.label].strip()
            if not raw_label:
                raise _RowError("missing label")
            label = parse_label(raw_label)
        except _RowError as err:
            error = DataError(path, str(err), line)
            if not skip_bad_rows:
                raise error from None
            bad.append(error)
            continue
        pair = None if layout.pair is None else fields[layout.pair]
        examples.append(Example(fields[layout.text], pair, label, f"{path}:{line}"))
    if bad:
        if not examples:
            raise DataError(path, f"no valid rows: all {len(bad)} rows are bad; first: {bad[0].reason}",
                            bad[0].line)
        warnings.warn(f"{path}: skipped {len(bad)} bad row(s); first: {bad[0]}", stacklevel=3)
    if not examples:
        raise DataError(path, "no data rows", last_line + 1)
    return examples


# ---------------------------------------------------------------------------------------------- labels


def _class_parser(names: Sequence[str], what: str, allow_ids: bool) -> LabelParser:
    index = {name: i for i, name in enumerate(names)}

    def parse(token: str) -> int:
        if token in index:
            return index[token]
        if allow_ids and re.fullmatch(r"\d+", token) and int(token) < len(names):
            return int(token)
        shown = ", ".join(map(repr, names))
        raise _RowError(f"unknown label {token!r} for {what}; expected one of {shown}")

    return parse


def _float_parser(label_range: tuple[float, float] | None) -> LabelParser:
    def parse(token: str) -> float:
        try:
            value = float(token)
        except ValueError:
            raise _RowError(f"label {token!r} is not a number") from None
        if not math.isfinite(value):
            raise _RowError(f"label {token!r} is not a finite number")
        if label_range is not None and not label_range[0] <= value <= label_range[1]:
            raise _RowError(f"label {value:g} is outside [{label_range[0]:g}, {label_range[1]:g}]")
        return value

    return parse


def _int_parser(token: str) -> int:
    if not re.fullmatch(r"\d+", token):
        raise _RowError(f"label {token!r} is not a class id (a non-negative integer)")
    return int(token)


# ---------------------------------------------------------------------------------------------- GLUE


def find_task_dir(data_dir: str | Path, task: str | TaskSpec) -> Path:
    """The folder holding ``task``'s files: ``data_dir/<dir_name>``, or ``data_dir`` itself if it is one.

    Folder names match forgivingly ("sst-2", "SST2"), since GLUE mirrors spell them differently.
    """
    spec = get_task(task)
    root = Path(data_dir)
    expected = ", ".join(dict.fromkeys(file_name for _, file_name in spec.splits))
    if not root.is_dir():
        raise DataError(root, f"GLUE directory not found; expected {root / spec.dir_name}/ "
                              f"with {expected}")
    exact = root / spec.dir_name
    if exact.is_dir():
        return exact
    for child in sorted(root.iterdir()):
        if child.is_dir() and re.sub(r"[^a-z0-9]", "", child.name.lower()) == spec.name:
            return child
    if re.sub(r"[^a-z0-9]", "", root.name.lower()) == spec.name:
        return root
    raise DataError(root, f"no {spec.display_name} folder; expected {exact}/ with {expected}")


def _glue_layout(path: Path, spec: TaskSpec, rows: Iterator[tuple[int, list[str]]]) -> _Layout:
    if not spec.has_header:
        assert spec.num_columns is not None and spec.text_column is not None
        return _Layout(int(spec.text_column), None if spec.text_pair_column is None else
                       int(spec.text_pair_column), int(spec.label_column), spec.num_columns)
    line, header = _first_row(path, rows)
    columns = (spec.text_column, spec.text_pair_column, spec.label_column)
    text, pair, label = _resolve_header(path, line, header, [None if c is None else str(c) for c in columns],
                                        f"the {spec.display_name} file")
    assert text is not None and label is not None
    return _Layout(text, pair, label, len(header))


def read_glue_file(path: str | Path, task: str | TaskSpec, *, skip_bad_rows: bool = False) -> list[Example]:
    """Read one GLUE-format TSV file of ``task`` (columns found by header name where there is a header).

    With ``skip_bad_rows`` a bad row is skipped with a warning instead of raising :class:`DataError`.
    """
    spec = get_task(task)
    path = Path(path)
    text = _read_text(path)
    rows = _iter_rows(path, text, "\t", quoted=False)
    layout = _glue_layout(path, spec, rows)
    if spec.is_regression:
        parser = _float_parser(spec.label_range)
    else:
        parser = _class_parser(spec.file_labels, spec.display_name, allow_ids=False)
    return _build_examples(path, rows, layout, parser, skip_bad_rows)


def read_glue_split(data_dir: str | Path, task: str | TaskSpec, split: str = "train", *,
                    skip_bad_rows: bool = False) -> list[Example]:
    """Read ``split`` ("train", "dev"; MNLI also "dev_matched", "dev_mismatched") of a GLUE directory.

    ``data_dir`` is the GLUE root (holding ``SST-2/``, ``CoLA/``, ...) or the task's own folder.
    """
    spec = get_task(task)
    file_name = spec.split_file(split)
    task_dir = find_task_dir(data_dir, spec)
    path = task_dir / file_name
    if not path.exists():
        present = sorted(p.name for p in task_dir.iterdir() if p.suffix == ".tsv") or ["no .tsv files"]
        raise DataError(path, f"{spec.display_name} {split} file not found (the folder has: "
                              f"{', '.join(present)})")
    return read_glue_file(path, spec, skip_bad_rows=skip_bad_rows)


# ---------------------------------------------------------------------------------------------- custom


def read_custom_file(path: str | Path, *, is_regression: bool = False,
                     label_names: Sequence[str] | None = None,
                     skip_bad_rows: bool = False) -> list[Example]:
    """Read a custom file with a header naming ``text``, optional ``text_pair``, and ``label`` columns.

    The extension picks the format: ``.csv`` is standard CSV (comma, double-quote quoting); ``.tsv`` and
    ``.txt`` are tab-separated without quoting, like GLUE. Other columns are ignored. Labels are class
    ids ``0..n-1`` or, with ``label_names``, those names (or their ids); with ``is_regression`` they
    are numbers.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".txt"):
        raise DataError(path, f"unknown extension {path.suffix!r}: use .csv (comma) or .tsv (tab)")
    text = _read_text(path)
    rows = _iter_rows(path, text, "," if suffix == ".csv" else "\t", quoted=suffix == ".csv")
    line, header = _first_row(path, rows)
    lowered = [name.strip().lower() for name in header]
    wanted = [_TEXT, _PAIR if _PAIR in lowered else None, _LABEL]
    text_col, pair_col, label_col = _resolve_header(path, line, header, wanted,
                                                    f"a file with a header '{_TEXT},[{_PAIR},]{_LABEL}'")
    assert text_col is not None and label_col is not None
    layout = _Layout(text_col, pair_col, label_col, len(header))
    if is_regression:
        parser = _float_parser(None)
    elif label_names is not None:
        parser = _class_parser(list(label_names), path.name, allow_ids=True)
    else:
        parser = _int_parser
    return _build_examples(path, rows, layout, parser, skip_bad_rows)

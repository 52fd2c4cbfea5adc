"""``--vocab task``: a WordPiece vocabulary cut down to what one task's text uses.

A text classifier for one task reads a small part of a 30k-token vocabulary (SST-2's training set
tokenizes to about 11.6k distinct ids), yet the word-embedding table is most of a small sub-model's bytes.
The task vocabulary keeps:

* every id the full tokenizer produces on the checkpoint's training data and on ``--vocab-corpus`` files;
* every special token (``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]`` and added tokens);
* every single-character piece, plain and ``##``: any word the full vocabulary could spell is still
  spelled (in smaller pieces) rather than becoming ``[UNK]``.

Greedy longest-match WordPiece keeps its choices when every piece it chose is kept (a shorter match is
only taken when no longer one exists), so every training sentence tokenizes to exactly the same pieces
(new ids, same rows of the embedding table) and the model's logits on it do not change. Kept tokens keep
their relative order, so the new ids are the old ones with the gaps closed.

The embedding rows themselves are cut by :mod:`export.embeddings`; this module decides which ids stay and
writes the tokenizer that matches them. Hugging Face ``tokenizers`` has no vocabulary-subset operation
(its trainers learn a new vocabulary), hence the hand-written selection.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .formats import ExportError

VOCAB_MODES = ("full", "task")
#: Columns of the CSV/TSV layouts the data layer reads (custom ``text,text_pair,label``; GLUE headers)
#: whose cells are text; a corpus file with a header naming any of them contributes those columns.
TEXT_COLUMNS = ("text", "text_pair", "sentence", "sentence1", "sentence2", "question", "question1",
                "question2", "premise", "hypothesis")


@dataclass
class TaskVocab:
    """The kept ids (ascending, ids of the full vocabulary) and where they came from."""

    kept: list[int]
    full_size: int
    sources: list[dict]  # {"what", "texts", "ids"}: how many texts and distinct ids each source gave

    @property
    def size(self) -> int:
        return len(self.kept)


# ---------------------------------------------------------------------------------------------- corpus files


def _decode(path: Path) -> str:
    """The file's text; missing, unreadable, non-UTF-8 or empty files raise one line naming file and line."""
    if not path.exists():
        raise ExportError(f"--vocab-corpus {path}: file not found")
    if not path.is_file():
        raise ExportError(f"--vocab-corpus {path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"--vocab-corpus {path}: cannot read file: {exc.strerror or exc}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM would become part of the first token
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ExportError(f"--vocab-corpus {path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                          "save the file as UTF-8") from None
    if not text.strip():
        raise ExportError(f"--vocab-corpus {path}:1: file is empty")
    return text


def read_corpus(path: str | Path) -> list[str]:
    """The texts of one ``--vocab-corpus`` file.

    ``.csv`` / ``.tsv`` files whose first row names text columns (the custom ``text[,text_pair],label``
    layout, or GLUE headers such as ``sentence``) contribute the cells of those columns; any other file is
    plain text, one text per non-blank line.
    """
    path = Path(path).expanduser()
    text = _decode(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        delimiter = "," if suffix == ".csv" else "\t"
        # GLUE TSVs are unquoted (lone '"' inside fields); the custom CSV is quoted, like the data layer reads them.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                            quoting=csv.QUOTE_MINIMAL if suffix == ".csv" else csv.QUOTE_NONE)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise ExportError(f"--vocab-corpus {path}:{reader.line_num}: malformed {suffix[1:]}: {exc}") from None
        header = [cell.strip().lower() for cell in rows[0]] if rows else []
        columns = [i for i, name in enumerate(header) if name in TEXT_COLUMNS]
        if columns:
            texts = [row[i] for row in rows[1:] for i in columns if i < len(row) and row[i].strip()]
            if not texts:
                raise ExportError(f"--vocab-corpus {path}:2: no text under the header's "
                                  f"{', '.join(header[i] for i in columns)} column(s)")
            return texts
    return [line for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------- selection


def check_wordpiece(tokenizer) -> None:
    """``--vocab task`` needs a fast WordPiece tokenizer (BERT family); BPE merges cannot be subset this way."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if type(model).__name__ != "WordPiece":
        raise ExportError(f"--vocab task needs a WordPiece tokenizer (BERT family); this checkpoint's tokenizer "
                          f"is {type(tokenizer).__name__} ({type(model).__name__ or 'no fast backend'})")


def _pieces_ids(tokenizer, texts: Sequence[str], what: str, progress: bool, batch: int = 4096) -> set[int]:
    from tqdm.auto import tqdm

    ids: set[int] = set()
    # MNLI/QQP-size training sets take a minute to tokenize: show it; SST-2-size ones take a second or two.
    starts = tqdm(range(0, len(texts), batch), desc=f"vocabulary: {what}", unit="batch", dynamic_ncols=True,
                  disable=not progress or len(texts) < 100_000)
    for start in starts:
        # No truncation: a long training text's tail is kept too (a superset costs a few rows at most).
        for row in tokenizer(list(texts[start:start + batch]), add_special_tokens=False)["input_ids"]:
            ids.update(row)
    return ids


def always_kept(tokenizer) -> set[int]:
    """Special tokens and every single-character piece (plain and ``##``) of the full vocabulary."""
    vocab = tokenizer.get_vocab()
    prefix = getattr(tokenizer.backend_tokenizer.model, "continuing_subword_prefix", "##")
    kept = set(tokenizer.all_special_ids)
    kept.update(tokenizer.convert_tokens_to_ids(list(tokenizer.get_added_vocab())))
    for token, idx in vocab.items():
        bare = token[len(prefix):] if token.startswith(prefix) and len(token) > len(prefix) else token
        if len(bare) == 1:
            kept.add(idx)
    return kept


def select(tokenizer, sources: Iterable[tuple[str, Sequence[str]]], progress: bool = False) -> TaskVocab:
    """The task vocabulary from ``(description, texts)`` sources (training data, corpus files)."""
    check_wordpiece(tokenizer)
    kept = always_kept(tokenizer)
    record = [{"what": "special tokens and single characters", "texts": 0, "ids": len(kept)}]
    for what, texts in sources:
        ids = _pieces_ids(tokenizer, texts, what, progress)
        record.append({"what": what, "texts": len(texts), "ids": len(ids)})
        kept |= ids
    return TaskVocab(sorted(kept), len(tokenizer), record)


# ---------------------------------------------------------------------------------------------- tokenizer


def pruned_tokenizer(tokenizer, kept: Sequence[int]):
    """A stock tokenizer (``AutoTokenizer``) whose vocabulary is ``kept``'s tokens in their old order.

    Written through ``save_pretrained`` with the new ``vocab.txt`` and no ``tokenizer.json``, then reloaded:
    transformers rebuilds the fast tokenizer from the slow one's settings (lower-casing, accents, CJK), the
    same path a user's ``AutoTokenizer.from_pretrained(vocab folder)`` takes, and the special tokens get
    their new ids by name.
    """
    from transformers import AutoTokenizer

    check_wordpiece(tokenizer)
    by_id = {idx: token for token, idx in tokenizer.get_vocab().items()}
    with tempfile.TemporaryDirectory(prefix="dynabert-vocab-") as tmp:
        folder = Path(tmp)
        tokenizer.save_pretrained(folder)
        for name in ("tokenizer.json", "added_tokens.json"):
            (folder / name).unlink(missing_ok=True)
        (folder / "vocab.txt").write_text("".join(by_id[i] + "\n" for i in kept), encoding="utf-8")
        # The config pins special tokens to their ids ("added_tokens_decoder"): move them to the new ids.
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        new_id = {old: new for new, old in enumerate(kept)}
        decoder = config.get("added_tokens_decoder") or {}
        config["added_tokens_decoder"] = {str(new_id[int(k)]): v for k, v in decoder.items() if int(k) in new_id}
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        new = AutoTokenizer.from_pretrained(folder)
    tokens = [by_id[i] for i in kept]
    specials = {token: tokens.index(token) for token in tokenizer.all_special_tokens}
    if (len(new) != len(kept) or new.convert_ids_to_tokens(list(range(len(kept)))) != tokens
            or any(new.convert_tokens_to_ids(t) != i for t, i in specials.items())):
        raise ExportError(f"the pruned tokenizer does not map its {len(kept)} kept tokens to their new ids; the "
                          "checkpoint's vocabulary has duplicate or added tokens --vocab task cannot reorder")
    return new


def vocab_sha256(tokenizer) -> str:
    """Checksum of the token list in id order: what the exported files' input ids mean."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return hashlib.sha256("\n".join(tokens).encode()).hexdigest()


def tokenization_changes(full, pruned, texts: Sequence[str]) -> dict:
    """How ``texts`` tokenize with ``pruned`` compared with ``full``.

    A token changes when the full tokenization's piece is not in the pruned vocabulary (it is spelled in
    smaller pieces, or becomes ``[UNK]``); a text changes when its pieces differ at all.
    """
    kept = pruned.get_vocab()
    changed_texts = changed_tokens = total = 0
    for start in range(0, len(texts), 4096):
        chunk = list(texts[start:start + 4096])
        a = full(chunk, add_special_tokens=False)["input_ids"]
        b = pruned(chunk, add_special_tokens=False)["input_ids"]
        for ids_a, ids_b in zip(a, b, strict=True):
            pieces_a = full.convert_ids_to_tokens(ids_a)
            total += len(pieces_a)
            changed_tokens += sum(piece not in kept for piece in pieces_a)
            changed_texts += pieces_a != pruned.convert_ids_to_tokens(ids_b)
    return {"texts": len(texts), "tokens": total, "changed_texts": changed_texts, "changed_tokens": changed_tokens,
            "changed_texts_share": changed_texts / len(texts) if texts else 0.0,
            "changed_tokens_share": changed_tokens / total if total else 0.0}

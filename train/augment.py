"""TinyBERT-style data augmentation (Jiao et al., 2020), as DynaBERT uses for its distillation stages.

For each sentence, each word is a candidate for replacement. Its candidates are the top-K predictions of
a masked-LM head with the word masked, when the backbone has an MLM head and the word is one word-piece;
otherwise its nearest neighbours (cosine) among whole-word entries of the model's own input-embedding
table (standing in for TinyBERT's GloVe). A variant replaces each word with probability p by a random
candidate; N distinct variants are wanted per sentence. The original keeps drawing until it has N, which
never ends for a one-word sentence with few candidates: here there are at most ``max_attempts * N`` draws.

The augmented set (originals first, then the variants with the original's label; distillation uses the
teacher's soft labels) is cached on disk under a key of everything that determines it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dynabert.data import DataError, Example
from train.config import AugmentConfig

# A replaceable word: letters, with at most quotes/brackets before and punctuation after it. Anything else
# (numbers, URLs, @mentions, #hashtags, emoticons) is kept as written.
_WORD = re.compile(r"""^(["'(\[]*)([A-Za-z][A-Za-z'\-]*)([.,!?;:"')\]]*)$""")


_VERSION = 2  # of the algorithm: part of the cache key, so a changed algorithm never reads an old cache


def split_words(text: str) -> list[str]:
    """Whitespace tokens, with a replaceable word's surrounding punctuation split off into its own tokens."""
    out: list[str] = []
    for token in text.split():
        match = _WORD.match(token)
        out += [part for part in match.groups() if part] if match else [token]
    return out


def _is_word(token: str) -> bool:
    return _WORD.match(token) is not None and token[:1].isalpha()


class CandidateSource:
    """Replacement candidates for a word in context: MLM predictions, or embedding-table neighbours."""

    def __init__(self, tokenizer: Any, embeddings: torch.Tensor, mlm: torch.nn.Module | None = None,
                 top_k: int = 15) -> None:
        self.tokenizer, self.mlm, self.top_k = tokenizer, mlm, top_k
        vocab = tokenizer.get_vocab()
        # Only whole, alphabetic vocabulary entries are eligible replacements (no ##pieces, no [CLS]).
        self.word_ids = torch.tensor(sorted(i for t, i in vocab.items() if t.isalpha() and t.isascii()))
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.table = F.normalize(embeddings.detach().float(), dim=-1)
        self.word_table = self.table[self.word_ids]
        self._neighbours: dict[str, list[str]] = {}

    def neighbours(self, word: str) -> list[str]:
        key = word.lower()
        if key not in self._neighbours:
            ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
            if not ids:
                self._neighbours[key] = []
            else:
                vec = F.normalize(self.table[ids].mean(0), dim=-1)
                top = (self.word_table @ vec).topk(min(self.top_k + 1, len(self.word_ids))).indices
                words = [self.id_to_token[int(self.word_ids[i])] for i in top]
                self._neighbours[key] = [w for w in words if w != key][: self.top_k]
        return self._neighbours[key]

    @torch.no_grad()
    def mlm_candidates(self, words: list[str], positions: list[int]) -> dict[int, list[str]]:
        """For each position holding a one-piece word, the MLM's top-K fillers with that word masked."""
        assert self.mlm is not None
        single = [p for p in positions if len(self.tokenizer(words[p], add_special_tokens=False)["input_ids"]) == 1]
        if not single:
            return {}
        rows = []
        for p in single:
            masked = list(words)
            masked[p] = self.tokenizer.mask_token
            rows.append(" ".join(masked))
        enc = self.tokenizer(rows, return_tensors="pt", padding=True, truncation=True, max_length=128)
        logits = self.mlm(**enc).logits
        out = {}
        for row, p in enumerate(single):
            where = (enc["input_ids"][row] == self.tokenizer.mask_token_id).nonzero()
            if len(where) == 0:  # truncated away
                continue
            scores = logits[row, where[0, 0], self.word_ids]
            top = scores.topk(min(self.top_k + 1, len(self.word_ids))).indices
            cands = [self.id_to_token[int(self.word_ids[i])] for i in top]
            out[p] = [c for c in cands if c != words[p].lower()][: self.top_k]
        return out

    def candidates(self, words: list[str]) -> dict[int, list[str]]:
        positions = [i for i, w in enumerate(words) if _is_word(w)]
        found = self.mlm_candidates(words, positions) if self.mlm is not None else {}
        for p in positions:
            if p not in found:
                found[p] = self.neighbours(words[p])
        return {p: c for p, c in found.items() if c}


def augment_sentence(words: list[str], candidates: dict[int, list[str]], cfg: AugmentConfig,
                     rng: random.Random) -> list[str]:
    """Up to ``n_variants`` distinct variants of one sentence, from at most ``max_attempts * n`` draws."""
    original = " ".join(words)
    seen = {original}
    variants: list[str] = []
    if not candidates:
        return variants
    for _ in range(cfg.max_attempts * cfg.n_variants):
        new = [rng.choice(candidates[i]) if i in candidates and rng.random() < cfg.replace_prob else w
               for i, w in enumerate(words)]
        text = " ".join(new)
        if text not in seen:
            seen.add(text)
            variants.append(text)
            if len(variants) == cfg.n_variants:
                break
    return variants


def augment_examples(examples: list[Example], source: CandidateSource, cfg: AugmentConfig, seed: int,
                     progress: bool = False) -> list[Example]:
    """The originals followed by their variants (the first text of a pair is augmented, as TinyBERT)."""
    out = list(examples)
    for index, ex in enumerate(tqdm(examples, desc="augment", disable=not progress, leave=False)):
        words = split_words(ex.text)
        rng = random.Random(f"{seed}:{index}")  # per sentence: the result does not depend on batching
        for k, text in enumerate(augment_sentence(words, source.candidates(words), cfg, rng)):
            out.append(Example(text, ex.text_pair, ex.label, f"{ex.source}#aug{k + 1}"))
    return out


def _cache_key(examples: list[Example], embeddings: torch.Tensor, cfg: AugmentConfig, seed: int,
               mlm_name: str | None) -> str:
    h = hashlib.sha256()
    params = {k: v for k, v in vars(cfg).items() if k not in ("enabled", "cache_dir")}
    h.update(json.dumps({"cfg": params, "seed": seed, "mlm": mlm_name, "version": _VERSION}, sort_keys=True).encode())
    for ex in examples:
        h.update(json.dumps([ex.text, ex.text_pair, ex.label]).encode())
    h.update(embeddings.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def _read_cache(path: Path) -> list[Example]:
    """The cached augmented set; a row of the wrong shape is a DataError naming the file and line."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"corrupt augmentation cache ({exc.msg}); delete the file to rebuild it",
                            number) from None
        ok = (isinstance(row, dict) and isinstance(row.get("text"), str)
              and (row.get("text_pair") is None or isinstance(row.get("text_pair"), str))
              and isinstance(row.get("label"), (int, float)) and not isinstance(row.get("label"), bool)
              and isinstance(row.get("source"), str))
        if not ok:
            raise DataError(path, "augmentation cache row should be {text, text_pair, label, source}; delete the "
                            "file to rebuild it", number)
        out.append(Example(row["text"], row["text_pair"], row["label"], row["source"]))
    return out


def load_or_build(examples: list[Example], tokenizer: Any, embeddings: torch.Tensor, cfg: AugmentConfig,
                  seed: int, cache_dir: Path, mlm: torch.nn.Module | None = None, mlm_name: str | None = None,
                  progress: bool = False) -> tuple[list[Example], dict]:
    """The augmented set from the cache, or built and cached; plus how long it took and how big it is."""
    path = Path(cache_dir) / f"augment-{_cache_key(examples, embeddings, cfg, seed, mlm_name)}.jsonl"
    if path.exists():
        out = _read_cache(path)
        return out, {"cache": str(path), "cached": True, "examples": len(out)}
    started = time.perf_counter()
    source = CandidateSource(tokenizer, embeddings, mlm, cfg.top_k)
    out = augment_examples(examples, source, cfg, seed, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as handle:
        for ex in out:
            handle.write(json.dumps({"text": ex.text, "text_pair": ex.text_pair, "label": ex.label,
                                     "source": ex.source}) + "\n")
    os.replace(tmp, path)
    return out, {"cache": str(path), "cached": False, "examples": len(out),
                 "seconds": round(time.perf_counter() - started, 1), "candidates": "mlm" if mlm else "embeddings"}


def load_mlm(backbone: str) -> torch.nn.Module | None:
    """The backbone's masked-LM head, or None when it has none (a random new head would be useless)."""
    from transformers import AutoModelForMaskedLM

    from dynabert.backbone import resolve_backbone

    try:
        model, info = AutoModelForMaskedLM.from_pretrained(resolve_backbone(backbone), output_loading_info=True)
    except (OSError, ValueError):
        return None
    if any("predictions" in k or "lm_head" in k for k in info["missing_keys"]):
        return None
    return model.eval()


def augment_for_run(cfg: Any, run: Any, source_ckpt: str | Path) -> list[Example]:
    """The augmented train set of a run (cached), for the distillation stages."""
    from train.corpora import stratified_sample
    from train.stages import load_teacher

    acfg: AugmentConfig = cfg.augment
    model, tokenizer = load_teacher(source_ckpt, run)
    train = run.data.train
    if acfg.max_examples is not None and acfg.max_examples < len(train):
        keep = set(stratified_sample([ex.label for ex in train], acfg.max_examples, cfg.seed))
        base = [ex for i, ex in enumerate(train) if i in keep]
        rest = [ex for i, ex in enumerate(train) if i not in keep]
    else:
        base, rest = train, []
    mlm = load_mlm(cfg.backbone)
    cache_dir = Path(acfg.cache_dir) if acfg.cache_dir else run.dir / "augment_cache"
    embeddings = model.base.embeddings.word_embeddings.weight
    out, info = load_or_build(base, tokenizer, embeddings, acfg, cfg.seed, cache_dir, mlm,
                              cfg.backbone if mlm is not None else None, run.progress and run.rt.is_main)
    if run.rt.is_main:
        print(f"augmentation: {len(base)} sentences -> {len(out)} examples ({info})")
    return out + rest

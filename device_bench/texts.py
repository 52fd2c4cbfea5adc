"""Real text of an exact token length: the latency input, here and on the phone.

Latency is measured at fixed sequence lengths (32, 128 tokens including ``[CLS]``/``[SEP]``). The input
is made of dev-set words, not random ids, and the same text is sent to the Android app's benchmark mode
(``--es text``), which tokenizes it itself, so both sides run the same sequence length.
"""

from __future__ import annotations

import numpy as np

_FILLER = "the"  # one word piece in every BERT/RoBERTa vocabulary worth the name; checked below


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, truncation=False)["input_ids"])


def text_with_tokens(tokenizer, sentences: list[str], n_tokens: int) -> str:
    """Words from ``sentences``, in order, making exactly ``n_tokens`` tokens with the special tokens."""
    empty = _count(tokenizer, "")
    if n_tokens < empty + 1:
        raise ValueError(f"a sequence of {n_tokens} tokens has no room for text (special tokens take {empty})")
    words: list[str] = []
    count = empty
    for sentence in sentences:
        for word in sentence.split():
            trial = _count(tokenizer, " ".join([*words, word]))
            if trial <= n_tokens:
                words.append(word)
                count = trial
            if count == n_tokens:
                return " ".join(words)
    while count < n_tokens:  # too little text, or only multi-piece words left: pad with a one-piece word
        words.append(_FILLER)
        count = _count(tokenizer, " ".join(words))
    text = " ".join(words)
    if count != n_tokens:
        raise ValueError(f"could not build a text of exactly {n_tokens} tokens with this tokenizer")
    return text


def features_for(tokenizer, text: str, max_length: int) -> dict[str, np.ndarray]:
    enc = tokenizer(text, truncation=True, max_length=max_length)
    return {k: np.asarray([v], dtype=np.int64) for k, v in enc.items()
            if k in ("input_ids", "attention_mask", "token_type_ids")}

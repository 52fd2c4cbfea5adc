"""Core demo: rewire the packaged MiniLM and cut it into 12 standalone sub-models, offline.

    python -m dynabert.demo --out runs/demo

Scores head/neuron importance on a few labelled sentences, rewires, slices every (width, depth)
sub-network into a stock transformers checkpoint, reloads each with ``from_pretrained`` and checks it
against the adaptive model. The classification head is untrained here: this shows the mechanics and the
sizes; `python -m train.all` trains real classifiers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dynabert.adaptive import AdaptiveModel
from dynabert.arch import grid
from dynabert.backbone import BackboneError, load_classifier, load_classifier_weights
from dynabert.importance import compute_importance
from dynabert.rewire import rewire
from dynabert.slicing import slice_subnetwork
from dynabert.stats import model_stats

SENTENCES = [
    ("a charming and often affecting journey .", 1),
    ("unflinchingly bleak and desperate", 0),
    ("the acting , costumes , music , cinematography and sound are all astounding .", 1),
    ("it 's slow -- very , very slow .", 0),
    ("a sometimes tedious film .", 0),
    ("the film is strictly routine .", 0),
    ("a masterpiece four years in the making .", 1),
    ("one of the greatest family-oriented , fantasy-adventure movies ever .", 1),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="minilm", help="local BERT/RoBERTa directory, hub id, or 'minilm'")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="where the 12 sub-models go")
    parser.add_argument("--seq-len", type=int, default=128, help="sequence length for the FLOPs column")
    args = parser.parse_args(argv)

    try:
        hf, tokenizer = load_classifier(args.backbone, label_names=["negative", "positive"])
    except BackboneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = AdaptiveModel(hf.eval())
    texts, labels = zip(*SENTENCES, strict=True)
    batch = dict(tokenizer(list(texts), padding=True, return_tensors="pt"), labels=torch.tensor(labels))
    with torch.no_grad():
        before = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).logits
    rewire(model, compute_importance(model, [batch], progress=False))
    inputs = {k: v for k, v in batch.items() if k != "labels"}

    full = model_stats(hf.config, args.seq_len)
    print(f"{'sub-model':<12} {'params':>10} {'encoder':>10} {'GFLOPs@' + str(args.seq_len):>11} "
          f"{'vs full':>8} {'max |diff|':>11}")
    worst = 0.0
    for w, d in tqdm(grid(), desc="slice + reload", leave=False):
        spec = model.spec(w, d)
        path = args.out / spec.name
        slice_subnetwork(model, w, d).save_pretrained(path)
        tokenizer.save_pretrained(path)
        reloaded = load_classifier_weights(path).eval()  # strict: a dropped tensor is an error
        with torch.no_grad():
            diff = (reloaded(**inputs).logits - model(**inputs, width_mult=w, depth_mult=d).logits).abs().max()
        worst = max(worst, float(diff))
        stats = model_stats(reloaded.config, args.seq_len)
        tqdm.write(f"{spec.name:<12} {stats.params_total:>10,} {stats.params_encoder:>10,} {stats.flops / 1e9:>11.2f} "
              f"{stats.flops / full.flops:>8.2f} {float(diff):>11.1e}")
    with torch.no_grad():
        rewired = model(**inputs).logits
    print(f"rewiring changed the full model's logits by {float((rewired - before).abs().max()):.1e}; "
          f"worst slice-vs-sub-network difference {worst:.1e}; sub-models written to {args.out}/")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())

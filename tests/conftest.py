"""Shared fixtures: tiny random BERT/RoBERTa classifiers, the packaged MiniLM, the GLUE directory."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

REPO = Path(__file__).resolve().parents[1]
GLUE_DIR = REPO.parent / "shared" / "data" / "glue"

# A shell without job control starts background jobs (`.ci/run &`, nohup) with SIGINT ignored, and an ignored
# signal stays ignored across exec: Python then installs no KeyboardInterrupt handler, in pytest or in the CLIs
# the Ctrl-C tests start, and those tests fail for the way CI was launched. Python's own handler is caught, not
# ignored, so the processes the tests start get the default disposition back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def tiny_hf_model(model_type: str = "bert", num_labels: int = 3, seed: int = 0):
    """A random 4-layer, 4-head classifier: small enough for every test, shaped like the real thing."""
    torch.manual_seed(seed)
    common = dict(vocab_size=120, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=64, num_labels=num_labels, max_position_embeddings=64)
    if model_type == "bert":
        return BertForSequenceClassification(BertConfig(**common)).eval()
    return RobertaForSequenceClassification(RobertaConfig(pad_token_id=1, **common)).eval()


def random_batch(vocab_size: int = 120, batch: int = 4, seq: int = 12, num_labels: int = 3, seed: int = 1):
    """Token ids with ragged padding, so masking is exercised."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab_size, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    for row in range(1, batch):
        mask[row, seq - 2 * row:] = 0
    ids = ids.masked_fill(mask == 0, 1)
    labels = torch.randint(0, num_labels, (batch,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    if not GLUE_DIR.is_dir():
        pytest.skip(f"real GLUE data not found at {GLUE_DIR}")
    return GLUE_DIR


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 with a fresh 2-label head (seeded), and its tokenizer."""
    from dynabert.backbone import load_classifier

    torch.manual_seed(0)
    return load_classifier("minilm", label_names=["negative", "positive"])


# ------------------------------------------------------------------- device_bench's tiny exported set (shared)

#: What the shared tiny export holds and the lengths its benchmark asks for (tests/test_device_bench.py).
BENCH_FORMATS = ("hf", "onnx", "onnx-int8", "ort")
BENCH_SEQ_ASKED = (16, 96)


def _make_checkpoint(path: Path, glue_dir: Path) -> Path:
    """A tiny random BERT with the packaged MiniLM's tokenizer (vocab 30522), saved as a rewired checkpoint.

    Random weights are as good as rewired ones for export and benchmarking (tests/test_export.py rewires its
    own); an initializer range of 0.2 (BERT's is 0.02) makes the predictions differ from example to example,
    so accuracy is not a constant, while INT8 still passes export's parity gate.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from dynabert.adaptive import AdaptiveModel
    from dynabert.backbone import default_backbone_dir
    from dynabert.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=64, num_labels=2, max_position_embeddings=128, initializer_range=0.2)
    model = AdaptiveModel(BertForSequenceClassification(config).eval())
    tokenizer = BertTokenizerFast.from_pretrained(default_backbone_dir())
    meta = CheckpointMeta(stage="width", task="sst2", label_names=["negative", "positive"], rewired=True,
                          max_length=64, backbone="tiny", extra={"data_dir": str(glue_dir)})
    return save_checkpoint(path, model, tokenizer, meta)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, glue_dir) -> Path:
    root = tmp_path_factory.mktemp("device_bench")
    ckpt = _make_checkpoint(root / "ckpt", glue_dir)
    out = root / "export"
    cmd = [sys.executable, "-m", "export.all", "--ckpt", str(ckpt), "--out", str(out), "--widths", "1.0,0.25",
           "--depths", "1.0,0.5", "--formats", ",".join(BENCH_FORMATS), "--no-bench", "--n-verify", "16", "--jobs", "1",
           "--no-progress", "--allow-failures"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from device_bench import runtimes

    if runtimes.unavailable_reason("executorch-xnnpack") is None:
        # ExecuTorch lowering is slow: one .pte (the full model) covers the runtime; a second run adds it to
        # the same manifest (export keeps what is already there and up to date).
        cmd[cmd.index("--widths") + 1], cmd[cmd.index("--depths") + 1] = "1.0", "1.0"
        cmd[cmd.index("--formats") + 1] = "pte"
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "manifest.json"


@pytest.fixture(scope="session")
def bench(tiny_export, tmp_path_factory) -> tuple[dict, Path]:
    from device_bench.harness import run

    out = tmp_path_factory.mktemp("bench")
    # One CPU thread count keeps this quick on a loaded 2-core CI machine; the mobile grid covers 2 threads.
    results = run(tiny_export, out, fast=True, seq_lens=BENCH_SEQ_ASKED, cpu_threads=(1,), mobile_threads=(1, 2),
                  progress=False, android="off")
    return results, out

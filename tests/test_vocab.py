"""``--vocab task`` and the position cut: training text keeps its pieces and logits, every format is built from
the cut model and verified, out-of-corpus text falls back to smaller pieces or [UNK], bad corpus files fail
with one line.

One session-scoped export (the tiny checkpoint of test_export, narrowest sub-model, every installed format)
is shared; the unit tests work on the tokenizer alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import GLUE_DIR
from test_export import _cli, _formats_under_test, _one_line_error, _tiny_checkpoint
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from dynabert.checkpoint import load_checkpoint
from dynabert.data import read_glue_split
from export import vocab as V
from export.formats import ExportError
from export.manifest import USABLE

pytestmark = pytest.mark.skipif(not GLUE_DIR.is_dir(), reason=f"real GLUE data not found at {GLUE_DIR}")

SUBNET = "w0.25_d0.5"
MAX_LENGTH = 48
#: opt-in formats with the 4-bit word table (and, int4ffn, 4-bit feed-forward weights)
INT4 = ["onnx-int4emb", "ort-int4emb", "onnx-int4ffn", "ort-int4ffn"]
#: Words the MiniLM vocabulary holds whole but SST-2's training text never uses: the corpus file keeps them.
CORPUS_LINES = ["The mitochondria drive photosynthesis in chloroplasts.", "thermodynamics"]
#: Out-of-corpus text: rare and made-up words, accents, emoji, CJK, a word longer than WordPiece spells.
STRANGE = ["zyzzogeton quixotry flibbertigibbet", "naïve café déjà vu", "great movie 😀🎬🍿", "这部电影很好看",
           "映画は素晴らしかった", "영화 최고", "x" * 150, "Ωμέγα ∑∂ √2 ≈ 1.414", "\u200b\u00a0tab\there"]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "extra.txt"
    path.write_text("\n".join(CORPUS_LINES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def pruned(tiny_ckpt, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("vocab") / "out"
    proc = _cli("--ckpt", str(tiny_ckpt), "--out", str(out), "--widths", "0.25", "--depths", "0.5",
                "--formats", ",".join([*_formats_under_test(), *INT4]), "--vocab", "task",
                "--vocab-corpus", str(corpus),
                "--max-length", str(MAX_LENGTH), "--jobs", "2", "--no-bench", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "manifest.json").read_text()), proc


@pytest.fixture(scope="session")
def sst2_train_texts() -> list[str]:
    return [ex.text for ex in read_glue_split(GLUE_DIR, "sst2", "train")]


def _pieces(tokenizer, texts: list[str]) -> list[list[str]]:
    return [tokenizer.convert_ids_to_tokens(ids) for ids in tokenizer(texts)["input_ids"]]


# ---------------------------------------------------------------------------------------------- the export


def test_every_format_is_built_from_the_cut_model_and_verified(pruned):
    out, manifest, proc = pruned
    record = manifest["embeddings"]
    assert record["vocab"] == "task" and record["full_vocab_size"] == 30522
    assert 1000 < record["vocab_size"] < record["full_vocab_size"]
    assert record["position_rows"] == MAX_LENGTH and record["full_position_rows"] == 128
    assert "task vocabulary" in proc.stderr
    ids = {a["id"] for a in manifest["artifacts"]}
    assert {f"{SUBNET}/{fmt}" for fmt in [*_formats_under_test(), *INT4]} <= ids
    vocab_rows = record["vocab_size"] * 48
    for art in manifest["artifacts"]:
        assert art["status"] in USABLE, (art["id"], art["errors"])
        # The counted weights match the cut tables, not the checkpoint's 30,522 x 48 word embeddings.
        assert art["params"]["embeddings"] == vocab_rows + (MAX_LENGTH + 2) * 48 + 2 * 48
        assert art["weights"]["passed"], art["weights"]
        if art["runtime"] == "coreml" and sys.platform != "darwin":
            assert art["spec_check"]["passed"]
            continue
        assert art["parity"]["passed"], art["id"]
    assert manifest["verification"]["lengths"][1] == MAX_LENGTH  # the last position row is exercised


def test_hf_folder_is_a_stock_checkpoint_with_the_new_vocabulary(pruned):
    out, manifest, _ = pruned
    hf = out / SUBNET / "hf"
    model = AutoModelForSequenceClassification.from_pretrained(hf)
    tokenizer = AutoTokenizer.from_pretrained(hf)
    size = manifest["embeddings"]["vocab_size"]
    assert model.config.vocab_size == len(tokenizer) == size
    assert model.get_input_embeddings().weight.shape[0] == size
    assert model.config.max_position_embeddings == MAX_LENGTH
    assert model.config.pad_token_id == tokenizer.pad_token_id
    lines = (hf / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == size and lines == (out / "tokenizer" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert V.vocab_sha256(tokenizer) == manifest["embeddings"]["vocab_sha256"]
    assert AutoTokenizer.from_pretrained(out / "tokenizer").get_vocab() == tokenizer.get_vocab()


def test_training_text_tokenizes_to_the_same_pieces(pruned, tiny_ckpt, sst2_train_texts):
    out, _, _ = pruned
    full = AutoTokenizer.from_pretrained(tiny_ckpt)
    cut = AutoTokenizer.from_pretrained(out / SUBNET / "hf")
    texts = sst2_train_texts + CORPUS_LINES
    assert _pieces(cut, texts) == _pieces(full, texts)  # special tokens included: [CLS] ... [SEP]


def test_logits_on_training_text_equal_the_unpruned_sub_network(pruned, tiny_ckpt, sst2_train_texts):
    out, _, _ = pruned
    adaptive, full, _ = load_checkpoint(tiny_ckpt, require_rewired=True)
    cut_model = AutoModelForSequenceClassification.from_pretrained(out / SUBNET / "hf").eval()
    cut = AutoTokenizer.from_pretrained(out / SUBNET / "hf")
    texts = sst2_train_texts[::1000] + CORPUS_LINES
    with torch.no_grad():
        for text in texts:
            a = full(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            b = cut(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            assert not torch.equal(a["input_ids"], b["input_ids"])  # the same pieces under new ids
            expected = adaptive(a["input_ids"], a["attention_mask"], a["token_type_ids"], width_mult=0.25,
                                depth_mult=0.5).logits
            got = cut_model(**b).logits
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_out_of_corpus_text_runs_in_every_runtime(pruned):
    import onnxruntime as ort

    out, manifest, _ = pruned
    hf = out / SUBNET / "hf"
    cut = AutoTokenizer.from_pretrained(hf)
    size = manifest["embeddings"]["vocab_size"]
    model = AutoModelForSequenceClassification.from_pretrained(hf).eval()
    files = [out / a["path"] for a in manifest["artifacts"] if a["runtime"] in ("onnxruntime", "onnxruntime-mobile")]
    assert len(files) >= 4
    sessions = [ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]) for f in files]
    unk = 0
    for text in STRANGE:
        enc = cut(text, truncation=True, max_length=MAX_LENGTH, return_tensors="np")
        ids = enc["input_ids"]
        assert 0 <= ids.min() and ids.max() < size
        unk += int((ids == cut.unk_token_id).sum())
        with torch.no_grad():
            reference = model(**{k: torch.from_numpy(v) for k, v in enc.items()}).logits.numpy()
        assert np.isfinite(reference).all()
        for session in sessions:
            feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
            assert np.isfinite(session.run(None, feed)[0]).all()
    assert unk > 0  # emoji have no piece in the MiniLM vocabulary: [UNK], not an index error
    # Words the full vocabulary spells are still spelled, in smaller pieces, never [UNK].
    pieces = cut.tokenize("zyzzogeton quixotry")
    assert cut.unk_token not in pieces and len(pieces) > 2


def test_dev_tokenization_changes_are_reported(pruned, tiny_ckpt):
    out, manifest, _ = pruned
    report = manifest["embeddings"]["dev_tokenization"]
    dev = [ex.text for ex in read_glue_split(GLUE_DIR, "sst2", "dev")]
    assert report == V.tokenization_changes(AutoTokenizer.from_pretrained(tiny_ckpt),
                                            AutoTokenizer.from_pretrained(out / "tokenizer"), dev)
    assert report["texts"] == len(dev)
    assert 0 < report["changed_tokens"] <= report["tokens"]
    assert 0 < report["changed_texts"] <= report["texts"]
    sources = {s["what"].split(" ")[0]: s for s in manifest["embeddings"]["sources"]}
    assert sources["sst2"]["texts"] == 67349 and sources["--vocab-corpus"]["texts"] == len(CORPUS_LINES)


def test_vocab_full_still_cuts_the_position_table(tiny_ckpt, tmp_path):
    out = tmp_path / "out"
    proc = _cli("--ckpt", str(tiny_ckpt), "--out", str(out), "--widths", "0.25", "--depths", "0.5", "--formats", "hf",
                "--max-length", "40", "--no-bench", "--no-progress", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((out / SUBNET / "hf" / "config.json").read_text())
    assert config["max_position_embeddings"] == 40 and config["vocab_size"] == 30522
    assert json.loads((out / "manifest.json").read_text())["embeddings"]["vocab"] == "full"


# ---------------------------------------------------------------------------------------------- selection


def test_kept_set_has_specials_single_characters_and_corpus_words(tiny_ckpt, sst2_train_texts):
    full = AutoTokenizer.from_pretrained(tiny_ckpt)
    train_only = set(V.select(full, [("train", sst2_train_texts)]).kept)
    chosen = V.select(full, [("train", sst2_train_texts), ("corpus", CORPUS_LINES)])
    kept = set(chosen.kept)
    assert chosen.kept == sorted(kept) and train_only < kept
    assert set(full.all_special_ids) <= kept
    for token, idx in full.get_vocab().items():
        if len(token) == 1 or (token.startswith("##") and len(token) == 3):
            assert idx in kept, token
    corpus_ids = {i for line in CORPUS_LINES for i in full(line, add_special_tokens=False)["input_ids"]}
    assert corpus_ids <= kept and not corpus_ids <= train_only
    assert [s["texts"] for s in chosen.sources] == [0, len(sst2_train_texts), len(CORPUS_LINES)]


def test_pruned_tokenizer_maps_special_tokens_to_their_new_ids(tiny_ckpt):
    full = AutoTokenizer.from_pretrained(tiny_ckpt)
    cut = V.pruned_tokenizer(full, V.select(full, [("x", ["hello world"])]).kept)
    assert len(cut) < 3000
    for name in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token"):
        token = getattr(cut, name)
        assert cut.convert_ids_to_tokens(getattr(cut, f"{name}_id")) == token == getattr(full, name)
    assert _pieces(cut, ["hello world"]) == [["[CLS]", "hello", "world", "[SEP]"]]


def test_corpus_files_plain_csv_and_tsv(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_text("\ufefffirst line\n\n second \n", encoding="utf-8")
    assert V.read_corpus(plain) == ["first line", " second "]
    custom = tmp_path / "b.csv"
    custom.write_text('text,text_pair,label\n"hello, world",pair one,0\nbye,,1\n', encoding="utf-8")
    assert V.read_corpus(custom) == ["hello, world", "pair one", "bye"]
    glue = tmp_path / "c.tsv"
    glue.write_text('sentence\tlabel\nit "works\t1\n', encoding="utf-8")
    assert V.read_corpus(glue) == ['it "works']


def test_bad_corpus_files_fail_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\nstill good\n" + b"caf\xe9\n")
    with pytest.raises(ExportError, match=r"bad\.txt:3: not valid UTF-8"):
        V.read_corpus(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n")
    with pytest.raises(ExportError, match=r"empty\.txt:1: file is empty"):
        V.read_corpus(empty)
    with pytest.raises(ExportError, match=r"missing\.txt: file not found"):
        V.read_corpus(tmp_path / "missing.txt")
    header_only = tmp_path / "h.csv"
    header_only.write_text("text,label\n")
    with pytest.raises(ExportError, match=r"h\.csv:2: no text"):
        V.read_corpus(header_only)
    runaway = tmp_path / "q.csv"  # an unclosed quote swallows the rest of the file
    runaway.write_text('text,label\n"abc,1\n' + "x" * 200_000 + "\n")
    with pytest.raises(ExportError, match=r"q\.csv:\d+: malformed csv"):
        V.read_corpus(runaway)


def test_cli_errors_are_one_line(tiny_ckpt, tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ok\nna\xefve\n")
    out = ["--out", str(tmp_path / "o"), "--formats", "onnx", "--no-bench"]
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), *out, "--vocab", "task", "--vocab-corpus", str(bad)],
                    f"{bad}:2: not valid UTF-8")
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), *out, "--vocab", "task", "--vocab-corpus",
                             str(tmp_path / "nope.txt")], "nope.txt: file not found")
    _one_line_error(capsys, ["--ckpt", str(tiny_ckpt), *out, "--vocab-corpus", str(bad)], "needs --vocab task")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_bpe_tokenizers_are_refused(tiny_ckpt):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    V.check_wordpiece(AutoTokenizer.from_pretrained(tiny_ckpt))
    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    with pytest.raises(ExportError, match="needs a WordPiece tokenizer"):
        V.check_wordpiece(bpe)


# ---------------------------------------------------------------------------------------------- device_bench


def test_weight_split_counts_each_part_of_each_file(pruned):
    from device_bench.weights import part_of, weight_split

    out, manifest, _ = pruned
    params = next(s for s in manifest["subnets"] if s["name"] == SUBNET)["params"]
    size = manifest["embeddings"]["vocab_size"]
    hf = weight_split(out / SUBNET / "hf")  # fp32 safetensors: exactly 4 bytes a parameter
    assert hf == {"vocab_size": size, "bytes_embeddings": 4 * params["embeddings"],
                  "bytes_encoder": 4 * params["encoder"], "bytes_head": 4 * params["head"], "bytes_other": 0}
    for fmt, per_param in (("onnx", 4), ("onnx-int8", 1), ("ort", 4), ("ort-int8", 1)):
        art = next(a for a in manifest["artifacts"] if a["id"] == f"{SUBNET}/{fmt}")
        split = weight_split(out / art["path"])
        assert split["vocab_size"] == size, fmt
        # Embedding tables: one value per parameter (+ per-row scales for INT8), nothing else.
        assert per_param * params["embeddings"] <= split["bytes_embeddings"] <= 1.1 * per_param * params["embeddings"]
        assert split["bytes_encoder"] > 0 and split["bytes_head"] > 0, fmt
        assert split["bytes_other"] < 0.01 * art["bytes"], fmt
        assert sum(split[f"bytes_{p}"] for p in ("embeddings", "encoder", "head", "other")) <= art["bytes"]
    # 4-bit word table: half a byte a value plus one fp32 scale per block of 32 (48 wide: 2 blocks a row),
    # the rest as in the INT8 file.
    int8 = weight_split(out / SUBNET / "model.int8.onnx")
    int4 = weight_split(out / SUBNET / "model.int4emb.onnx")
    word = size * 48
    assert int4["vocab_size"] == size and int4["bytes_encoder"] == int8["bytes_encoder"]
    assert weight_split(out / SUBNET / "model.int4emb.ort")["vocab_size"] == size
    saved = word - (word // 2 + size * 2 * 4)
    assert int8["bytes_embeddings"] - int4["bytes_embeddings"] == pytest.approx(saved, abs=16)  # INT8 scale, zp
    assert weight_split(out / SUBNET / "model.mlpackage") is None  # Core ML weights are not named: not guessed
    assert part_of(["onnx::MatMul_270", "/encoder/layer.0/output/dense/MatMul"]) == "encoder"
    assert part_of(["Attention_0_qkv_weight", "Attention_0"]) == "encoder"
    assert part_of(["hf.bert.pooler.dense.weight_quantized"]) == "head"


def test_int4_word_table_is_gather_block_quantized(pruned):
    import onnx

    from export.embeddings import _int4_blocks

    out, manifest, _ = pruned
    model = onnx.load(str(out / SUBNET / "model.int4emb.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("GatherBlockQuantized") == 1 and ops.count("MatMulInteger") > 0  # the rest stays INT8
    art = next(a for a in manifest["artifacts"] if a["id"] == f"{SUBNET}/onnx-int4emb")
    int8 = next(a for a in manifest["artifacts"] if a["id"] == f"{SUBNET}/onnx-int8")
    assert art["status"] == "passed" and art["parity"]["argmax_agreement"] >= 0.98 and art["bytes"] < int8["bytes"]
    ort_file = next(a for a in manifest["artifacts"] if a["id"] == f"{SUBNET}/ort-int4emb")
    assert ort_file["status"] == "passed" and ort_file["source"] == art["id"]
    # The packing is ONNX Runtime's (uint8, bits=4): q + 8, low nibble first; scale = largest magnitude / -8.
    table = np.array([[1.0, -2.0, 0.5, 8.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    packed, scales = _int4_blocks(table, 2)
    assert packed.shape == (2, 3) and scales.tolist() == [[0.25, -1.0, -0.375], [0.0, 0.0, 0.0]]
    values = np.stack([packed & 0xF, packed >> 4], axis=2).reshape(2, 6)[:, :5].astype(int) - 8
    assert values.tolist() == [[4, -8, 0, -8, -8], [0, 0, 0, 0, 0]]
    per_value = np.repeat(scales, 2, axis=1)[:, :5]
    assert (np.abs(values * per_value - table) <= np.abs(per_value) / 2).all()  # within half a step


def test_bench_reports_vocab_and_split_and_pick_installs_the_pruned_vocab(pruned, tmp_path, capsys):
    import csv

    from device_bench import pick
    from device_bench.harness import run

    out, manifest, _ = pruned
    results = run(out / "manifest.json", tmp_path / "bench", fast=True, seq_lens=(16,), cpu_threads=(1,),
                  mobile_threads=(1,), formats=("hf", "onnx-int8", "ort-int8"), progress=False, android="off")
    size = manifest["embeddings"]["vocab_size"]
    for art in results["artifacts"]:
        assert art["vocab_size"] == size and art["bytes_embeddings"] > art["bytes_encoder"], art["id"]
    rows = list(csv.DictReader((tmp_path / "bench" / "table.csv").open()))
    assert rows and all(int(r["vocab_size"]) == size and int(r["bytes_embeddings"]) > 0 for r in rows)
    assert "MB emb / enc / head" in (tmp_path / "bench" / "table.md").read_text()
    demo = tmp_path / "android_demo"
    (demo / "app" / "src" / "main" / "assets").mkdir(parents=True)
    assert pick.main(["--results", str(tmp_path / "bench" / "results.json"), "--install-into", str(demo)]) == 0
    capsys.readouterr()
    (folder,) = [p for p in (demo / "app/src/main/assets/models").iterdir() if p.is_dir()]
    installed = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert installed == (out / SUBNET / "hf" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(installed) == size


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_position_cut_keeps_logits_and_reloads(model_type, tmp_path):
    from conftest import random_batch, tiny_hf_model

    from export.embeddings import cut_positions, position_rows

    model = tiny_hf_model(model_type)
    batch = random_batch(seq=20)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        before = model(**inputs).logits
    rows = position_rows(model.config, 20)
    assert rows == (22 if model_type == "roberta" else 20)  # RoBERTa numbers positions from pad_token_id + 1
    cut_positions(model, rows)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, before, atol=0, rtol=0)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert reloaded.config.max_position_embeddings == rows
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, before, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="between 1 and"):
        cut_positions(model, rows + 1)


def test_int4ffn_file_has_4bit_feed_forward_weights_and_passes_its_gate(pruned):
    """onnx-int4ffn: the int4emb file with every feed-forward MatMul (and only those) in 4-bit blocks; the
    attention projections stay dynamic INT8; verified like INT8, smaller than the int4emb file, counted in
    parameters (the packed weights' correction), and its .ort twin passes too."""
    import onnx

    from export.quantize import INT4_FFN_BLOCK

    out, manifest, _ = pruned
    model = onnx.load(str(out / SUBNET / "model.int4ffn.onnx"))
    from device_bench.weights import weight_split

    layers = len(next(s for s in manifest["subnets"] if s["name"] == SUBNET)["layers"])
    nbits = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert len(nbits) == 2 * layers
    assert all("/attention/" not in n.name for n in nbits)
    assert {a.i for n in nbits for a in n.attribute if a.name == "bits"} == {4}
    assert {a.i for n in nbits for a in n.attribute if a.name == "block_size"} == {INT4_FFN_BLOCK}
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("GatherBlockQuantized") == 1 and ops.count("MatMulInteger") > 0
    arts = {a["id"]: a for a in manifest["artifacts"]}
    art, int4emb = arts[f"{SUBNET}/onnx-int4ffn"], arts[f"{SUBNET}/onnx-int4emb"]
    assert art["status"] == "passed" and art["parity"]["argmax_agreement"] >= 0.98
    # Packed 4-bit weights counted as parameters: without the correction half the feed-forward weights
    # (~1.5k of this model's ~661k) would be missing.
    assert art["weights"]["passed"] and abs(art["weights"]["counted"] - art["weights"]["expected"]) < 700
    assert art["details"]["ffn_matmuls"] == 2 * layers and art["details"]["word_embeddings"]
    assert arts[f"{SUBNET}/ort-int4ffn"]["status"] == "passed"
    # The packed blocks are read as the encoder's bytes (this tiny model's feed-forward rows are shorter than
    # a block of 64 and padded, so it is not smaller than the int4emb file; SST-2 sizes: docs/results).
    split, emb = weight_split(out / SUBNET / "model.int4ffn.onnx"), weight_split(out / SUBNET / "model.int4emb.onnx")
    assert split["bytes_encoder"] > 0 and split["bytes_other"] < 0.01 * art["bytes"]
    assert split["bytes_embeddings"] == emb["bytes_embeddings"] and int4emb["status"] == "passed"

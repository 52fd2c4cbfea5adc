import json

import pytest
import torch
from conftest import random_batch, tiny_hf_model
from transformers import BertTokenizerFast

from dynabert.adaptive import AdaptiveModel
from dynabert.backbone import BackboneError, default_backbone_dir, load_classifier
from dynabert.checkpoint import CheckpointError, CheckpointMeta, load_checkpoint, read_meta, save_checkpoint


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizerFast.from_pretrained(default_backbone_dir())


def meta(**kw):
    return CheckpointMeta(**{"stage": "width", "task": "sst2", "label_names": ["negative", "positive"],
                             "rewired": True, **kw})


def test_round_trip_keeps_weights_and_meta(tmp_path, tokenizer):
    model = AdaptiveModel(tiny_hf_model(num_labels=2))
    path = save_checkpoint(tmp_path / "ckpt", model, tokenizer, meta(extra={"steps": 3}))
    loaded, tok, m = load_checkpoint(path, require_rewired=True)
    batch = random_batch()
    with torch.no_grad():
        assert torch.equal(loaded(batch["input_ids"]).logits, model.eval()(batch["input_ids"]).logits)
    assert m.rewired and m.extra == {"steps": 3} and m.label_names == ["negative", "positive"]
    assert tok.vocab_size == tokenizer.vocab_size
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_overwrite_is_atomic_and_complete(tmp_path, tokenizer):
    model = AdaptiveModel(tiny_hf_model(num_labels=2))
    save_checkpoint(tmp_path / "ckpt", model, tokenizer, meta(stage="width"))
    save_checkpoint(tmp_path / "ckpt", model, tokenizer, meta(stage="depth"))
    assert read_meta(tmp_path / "ckpt").stage == "depth"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_missing_foreign_and_corrupt_checkpoints_are_refused(tmp_path, tokenizer):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope")
    foreign = tmp_path / "foreign"
    tiny_hf_model().save_pretrained(foreign)
    with pytest.raises(CheckpointError, match="not a dynabert-edge checkpoint"):
        load_checkpoint(foreign)

    path = save_checkpoint(tmp_path / "ckpt", AdaptiveModel(tiny_hf_model(num_labels=2)), tokenizer, meta())
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or incomplete"):
        load_checkpoint(path)

    (path / "dynabert.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt metadata"):
        read_meta(path)
    (path / "dynabert.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a dynabert-edge checkpoint"):
        read_meta(path)


def test_non_rewired_checkpoint_is_refused_when_rewiring_is_required(tmp_path, tokenizer):
    path = save_checkpoint(tmp_path / "t", AdaptiveModel(tiny_hf_model(num_labels=2)), tokenizer,
                           meta(stage="teacher", rewired=False))
    with pytest.raises(CheckpointError, match="not rewired"):
        load_checkpoint(path, require_rewired=True)


@pytest.mark.parametrize("stage", ["width", "depth", "finetune"])
def test_the_rewired_flag_decides_not_the_stage_name(tmp_path, tokenizer, stage):
    model = AdaptiveModel(tiny_hf_model(num_labels=2))
    plain = save_checkpoint(tmp_path / "plain", model, tokenizer, meta(stage=stage, rewired=False))
    with pytest.raises(CheckpointError, match="not rewired"):
        load_checkpoint(plain, require_rewired=True)
    assert load_checkpoint(plain)[2].stage == stage  # loading without the requirement still works
    # a rewired model saved before any distillation (stage "rewired", or a rewired teacher) is accepted
    for name in ("rewired", "teacher"):
        path = save_checkpoint(tmp_path / name, model, tokenizer, meta(stage=name, rewired=True))
        assert load_checkpoint(path, require_rewired=True)[2].rewired


def test_backbone_errors_name_the_path(tmp_path):
    with pytest.raises(BackboneError, match="no such directory"):
        load_classifier(str(tmp_path / "missing-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneError, match="no config.json"):
        load_classifier(tmp_path / "empty")

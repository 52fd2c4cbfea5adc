"""`python -m train.*` under bad input and faults (issue #11): every class of problem is one `error:` line
and exit 2, nothing half-written is left behind, nothing read from a run folder can run code, and Ctrl-C
anywhere leaves the last good state and prints the exact command that resumes."""

import json
import os
import pickle
import shlex
import shutil
import signal

import pytest
import torch
from conftest import tiny_hf_model
from test_train_e2e import make_tiny, run_main
from transformers import RobertaConfig

from dynabert.adaptive import AdaptiveModel
from dynabert.checkpoint import CheckpointError
from train import state as train_state
from train.cli import _read_summary
from train.config import build_config, save_config
from train.guards import GuardError, check_max_length, position_limit
from train.loop import ResumeError
from train.stages import _saved_importance, saved_metrics
from train.state import StateError, load_state, rng_state, save_state, set_rng_state

#: A few steps per stage: enough to save states and finish, seconds on a CPU.
SHORT = ["--set", "stages.teacher.max_steps=6", "--set", "stages.teacher.save_every=2",
         "--set", "stages.teacher.eval_every=0", "--set", "stages.teacher.log_every=1",
         "--set", "stages.width.max_steps=2",
         "--set", "stages.width.eval_every=0", "--set", "stages.depth.max_steps=2",
         "--set", "stages.depth.eval_every=0", "--set", "stages.finetune.max_steps=2",
         "--set", "stages.finetune.eval_every=0"]


def fails(capsys, argv, *messages, stage="all", code=2):
    """Run the CLI; it must exit ``code`` with exactly one `error:` line that contains every message."""
    capsys.readouterr()
    assert run_main(argv, stage) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for message in messages:
        assert message in err, err
    return err


def parse_fails(capsys, argv, message):
    """An argparse-level error: one line, exit 2 (SystemExit), before anything runs."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: ") and "\n" not in err and message in err, err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The end-to-end tests' inputs: a 4-layer BERT (64 positions, MiniLM's tokenizer), a separable SST-2."""
    return make_tiny(tmp_path_factory.mktemp("tiny"))


class Evil:
    """The payload from the issue: unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ---------------------------------------------------------------------------------------------- no pickle


def test_a_planted_pickle_payload_in_state_pt_does_not_run_on_resume(tiny, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps({"stage": Evil(marker)})
    pickle.loads(payload)  # the payload is live: plain unpickling runs it ...
    assert marker.exists()
    marker.unlink()

    out = tmp_path / "run"
    save_config(build_config(files=[tiny / "tiny.yaml"]), out / "config.yaml")
    (out / "teacher").mkdir()
    torch.save({"stage": Evil(marker)}, out / "teacher" / "state.pt")
    err = fails(capsys, ["--out", str(out), "--resume"], "teacher/state.pt", "nothing in it was run")
    assert not marker.exists(), "the state file ran code"  # ... resuming does not
    assert "delete it" in err and (out / "teacher" / "state.pt").exists()  # the user's file is left alone


def _tiny_training_objects():
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return model, optimizer, scheduler


def _state(model, optimizer, scheduler, **changes):
    state = {"stage": "teacher", "step": 3, "total_steps": 10, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": {},
             "rng": rng_state(), "best_score": -float("inf"), "best_step": -1, "elapsed": 1.5, "log_offset": 0,
             "extra": {"importance": {"heads": torch.ones(2, 2)}}}
    state.update(changes)
    return state


def test_training_state_round_trips_without_pickle_and_restores_every_rng(tmp_path):
    import random

    import numpy as np

    model, optimizer, scheduler = _tiny_training_objects()
    path = tmp_path / "state.pt"
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    save_state(_state(model, optimizer, scheduler), path)
    draws = (torch.rand(3), np.random.rand(3), random.random())
    loaded = torch.load(path, weights_only=True)  # the plain safe loader reads it: no custom types inside
    assert loaded["optimizer"]["state"][0]["exp_avg"].shape == (3, 4)
    state = load_state(path)
    set_rng_state(state["rng"], path)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1]) and draws[2] == again[2]
    fresh, fresh_opt, _ = _tiny_training_objects()
    fresh.load_state_dict(state["model"])
    fresh_opt.load_state_dict(state["optimizer"])
    assert torch.equal(fresh.weight, model.weight)


@pytest.mark.parametrize("changes, field", [
    ({"step": "3"}, "field step"),
    ({"step": 11}, "field step"),
    ({"model": {"weight": [1.0, 2.0]}}, "field model.weight"),
    ({"extra": [1]}, "field extra"),
    ({"version": 1}, "version 1"),
    ({"format": "something-else"}, "not a dynabert-edge training state"),
    ({"rng": {"python": (3, (1, 2), None), "numpy": {}, "torch": torch.zeros(2)}}, "field rng.python"),
    ({"log_offset": -1}, "field log_offset"),
])
def test_a_state_of_the_wrong_shape_is_one_error_naming_the_field(tmp_path, changes, field):
    model, optimizer, scheduler = _tiny_training_objects()
    path = tmp_path / "state.pt"
    save_state(_state(model, optimizer, scheduler), path)
    record = torch.load(path, weights_only=True)
    record.update(changes)
    torch.save(record, path)
    with pytest.raises(StateError) as exc:
        set_rng_state(load_state(path)["rng"], path)
    assert str(path) in str(exc.value) and field in str(exc.value) and "\n" not in str(exc.value)


def test_missing_fields_and_torn_files_are_refused(tmp_path):
    model, optimizer, scheduler = _tiny_training_objects()
    path = tmp_path / "state.pt"
    save_state(_state(model, optimizer, scheduler), path)
    record = torch.load(path, weights_only=True)
    del record["optimizer"]
    torch.save(record, path)
    with pytest.raises(StateError, match="field optimizer is missing"):
        load_state(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(StateError, match="corrupt training state"):
        load_state(path)


def test_saved_importance_must_fit_the_teacher(tmp_path):
    model = AdaptiveModel(tiny_hf_model())  # 4 layers, 4 heads, 64 neurons
    good = {"heads": torch.rand(4, 4), "neurons": torch.rand(4, 64)}
    assert _saved_importance({"extra": {"importance": good}}, tmp_path / "s.pt", model).heads.shape == (4, 4)
    for bad, field in (({**good, "heads": torch.rand(3, 4)}, "extra.importance.heads"),
                       ({"heads": good["heads"]}, "extra.importance.neurons"), (None, "extra.importance.heads")):
        with pytest.raises(StateError, match=field):
            _saved_importance({"extra": {"importance": bad}}, tmp_path / "s.pt", model)


# ---------------------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_a_save_waits_for_a_complete_file(tmp_path, monkeypatch):
    model, optimizer, scheduler = _tiny_training_objects()
    path = tmp_path / "state.pt"
    real_save = torch.save

    def interrupted_save(obj, handle):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives in the middle of the save
        real_save(obj, handle)

    monkeypatch.setattr(train_state.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_state(_state(model, optimizer, scheduler, step=7), path)
    monkeypatch.setattr(train_state.torch, "save", real_save)
    assert load_state(path)["step"] == 7  # the interrupt was raised after the rename, not inside torch.save
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and Ctrl-C works again

    def torn_save(obj, handle):
        handle.write(b"half a state")
        raise KeyboardInterrupt  # e.g. a second, unprotected interrupt

    monkeypatch.setattr(train_state.torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        save_state(_state(model, optimizer, scheduler, step=9), path)
    assert load_state(path)["step"] == 7  # the last good state is intact
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # and no temporary file is left


def test_ctrl_c_prints_the_exact_resume_command_and_that_command_finishes_the_run(tiny, tmp_path, capsys,
                                                                                   monkeypatch):
    out = tmp_path / "run"
    argv = ["--config", str(tiny / "tiny.yaml"), "--out", str(out), *SHORT]
    saves = []
    real_save = torch.save

    def second_save_interrupted(obj, handle):
        saves.append(obj["step"])
        if len(saves) == 2:  # the teacher's state at step 4 of 6
            os.kill(os.getpid(), signal.SIGINT)
        real_save(obj, handle)

    monkeypatch.setattr(train_state.torch, "save", second_save_interrupted)
    capsys.readouterr()
    assert run_main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()  # (transformers may log a warning before it)
    monkeypatch.setattr(train_state.torch, "save", real_save)
    assert "continue with: python -m train.all " in err[-1] and sum("interrupted" in line for line in err) == 1, err
    command = shlex.split(err[-1].split("continue with: ", 1)[1])
    assert command[:3] == ["python", "-m", "train.all"] and command[-1] == "--resume"
    assert command[3:-1] == [*argv, "--no-progress"]
    assert load_state(out / "teacher" / "state.pt")["step"] == saves[-1]  # the state saved under the interrupt

    # Files of the wrong shape met on resume: one line naming the file and the field.
    for name, tamper, message in (
        ("short-log", lambda run: (run / "teacher" / "log.jsonl").write_text(""), "field log_offset"),
        ("empty-config", lambda run: (run / "config.yaml").write_text(""), "config.yaml: holds no config"),
        ("typed-config", lambda run: (run / "config.yaml").write_text(
            (run / "config.yaml").read_text().replace("batch_size: 16", "batch_size: big")),
         "config.yaml: batch_size: expected a number"),
        ("list-config", lambda run: (run / "config.yaml").write_text("- 1\n"), "config.yaml: a config file holds"),
    ):
        copy = tmp_path / name
        shutil.copytree(out, copy)
        tamper(copy)
        fails(capsys, ["--out", str(copy), "--resume"], message)

    capsys.readouterr()
    assert run_main(command[3:-2] + ["--resume"]) == 0
    assert "[teacher] resuming at step 4/6" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["task"] == "sst2"


def test_ctrl_c_before_training_began_removes_the_new_folder_and_says_to_start_again(tiny, tmp_path, capsys,
                                                                                     monkeypatch):
    import train.stages

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # while the backbone loads: the config and data are on disk, no stage began

    monkeypatch.setattr(train.stages, "load_classifier", interrupted)
    out = tmp_path / "run"
    capsys.readouterr()
    assert run_main(["--config", str(tiny / "tiny.yaml"), "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("interrupted before training began") and "--resume" not in err[-1], err
    assert shlex.split(err[-1].split("start again with: ", 1)[1])[3:5] == ["--config", str(tiny / "tiny.yaml")]
    assert not out.exists()


def test_ctrl_c_while_the_cli_starts_is_one_line_too(monkeypatch, capsys):
    import sys

    import train

    class InterruptedImport:  # Ctrl-C while `import torch` (seconds) runs inside train.cli's import
        def find_spec(self, name, path=None, target=None):
            if name == "train.cli":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "train.cli")
    monkeypatch.setattr(sys, "meta_path", [InterruptedImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as exc:
        train.entry("all")
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 130 and err == "interrupted while starting; nothing was written"


# ---------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("extra, message", [
    (["--set", "stages.teacher.lr=nan"], "stages.teacher.lr: expected a finite number"),
    (["--set", "stages.teacher.lr=.inf"], "stages.teacher.lr: expected a finite number"),
    (["--set", "stages.teacher.lr=0"], "stages.teacher.lr must be > 0"),
    (["--set", "stages.width.epochs=-1"], "epochs and max_steps must be >= 0"),
    (["--set", "stages.depth.max_steps=2.5"], "stages.depth.max_steps: expected a whole number"),
    (["--set", "batch_size=0"], "batch_size must be >= 1"),
    (["--set", "batch_size=nan"], "batch_size: expected a finite number"),
    (["--set", "batch_size="], "batch_size: expected a number"),
    (["--set", "eval_batch_size=0"], "eval_batch_size must be >= 1"),
    (["--set", "distill.pkd.temperature=0"], "temperature must be > 0"),
    (["--set", "distill.pkd.temperature=-.inf"], "temperature: expected a finite number"),
    (["--set", "distill.pkd.alpha=1.5"], "alpha must be in [0, 1]"),
    (["--set", "width_mults=[1.0, 0.0]"], "width_mults"),
    (["--set", "width_mults=[1.0, .nan]"], "width_mults[1]: expected a finite number"),
    (["--set", "depth_mults=[1.0, 1.5]"], "depth_mults"),
    (["--set", "stages.width.widths=[]"], "widths must be a non-empty subset"),
    (["--set", "stages.depth.grad_clip=0"], "grad_clip must be > 0"),
    (["--set", "stages.depth.weight_decay=-0.1"], "weight_decay must be >= 0"),
    (["--set", "stages.depth.warmup_ratio=1"], "warmup_ratio must be in [0, 1)"),
    (["--set", "stages.depth.hidden_weight=nan"], "hidden_weight: expected a finite number"),
    (["--set", "stages.width.importance_batches=0"], "importance_batches must be >= 1"),
    (["--set", "stages.depth.save_every=0"], "save_every"),
    (["--set", "augment.replace_prob=nan"], "replace_prob: expected a finite number"),
    (["--set", "augment.top_k=0"], "top_k must be >= 1"),
    (["--set", "augment.max_examples=0"], "max_examples must be >= 1"),
    (["--set", "data.max_train_examples=0"], "max_train_examples must be >= 1"),
    (["--set", "data.dev_size=0"], "dev_size must be >= 1"),
    (["--seed", "-1"], "seed must be in"),
    (["--seed", "99999999999"], "seed must be in"),
    (["--threads", "-2"], "threads must be >= 0"),
    (["--max-length", "4"], "data.max_length must be >= 8"),
    (["--max-length", "65"], "data.max_length (--max-length) 65"),  # the tiny backbone has 64 positions
    (["--max-length", "100000"], "has 64 positions"),
    (["--task", "custom", "--train-file", "t.csv", "--dev-file", "d.csv", "--label-names", ","],
     "data.label_names must be two or more distinct, non-empty names"),
    (["--task", "custom", "--train-file", "t.csv", "--dev-file", "d.csv", "--label-names", "a,a"],
     "data.label_names"),
])
def test_every_numeric_option_is_validated_before_a_folder_exists(tiny, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    fails(capsys, ["--config", str(tiny / "tiny.yaml"), "--out", str(out), *extra], message)
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--max-length", "nan"], "--max-length: invalid int value: 'nan'"),
    (["--seed", "1.5"], "--seed: invalid int value"),
    (["--precision", "fp8"], "--precision: invalid choice"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_option_parse_errors_are_one_line_too(tiny, tmp_path, capsys, extra, message):
    parse_fails(capsys, ["--config", str(tiny / "tiny.yaml"), "--out", str(tmp_path / "run"), *extra], message)
    assert not (tmp_path / "run").exists()


def test_a_config_file_with_a_bad_value_is_named(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  depth: {lr: .nan}\n")
    fails(capsys, ["--config", str(tiny / "tiny.yaml"), "--config", str(bad), "--out", str(tmp_path / "r")],
          f"{bad}: stages.depth.lr: expected a finite number")


def test_max_length_is_bounded_by_the_position_table(tiny, tmp_path):
    assert position_limit(tiny / "backbone") == 64
    check_max_length(64, tiny / "backbone")  # the whole table is usable
    with pytest.raises(GuardError, match="use 64 or less"):
        check_max_length(65, tiny / "backbone")
    # RoBERTa numbers positions from pad_token_id + 1: a 514-row table takes 512 tokens.
    RobertaConfig(max_position_embeddings=514, pad_token_id=1).save_pretrained(tmp_path / "roberta")
    assert position_limit(tmp_path / "roberta") == 512
    with pytest.raises(GuardError, match="has 512 positions"):
        check_max_length(513, tmp_path / "roberta")


# ---------------------------------------------------------------------------------------------- --out


def test_out_that_is_a_file_or_under_a_file_is_one_line(tiny, tmp_path, capsys):
    cfg = ["--config", str(tiny / "tiny.yaml")]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    fails(capsys, [*cfg, "--out", str(a_file)], "is a file, not a folder")
    fails(capsys, [*cfg, "--out", str(a_file / "run")], f"{a_file} is a file, so no folder can be made under it")
    fails(capsys, [*cfg, "--out", str(a_file / "deeper" / "run")], "is a file")
    assert a_file.read_text() == "mine"
    fails(capsys, [*cfg, "--out", str(a_file)], "is a file, not a folder", stage="depth")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_out_is_one_line(tiny, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        fails(capsys, ["--config", str(tiny / "tiny.yaml"), "--out", str(locked / "run")], "is not writable")
    finally:
        locked.chmod(0o700)


def test_a_read_only_out_is_refused_when_the_os_says_so(tiny, tmp_path, capsys, monkeypatch):
    # The same check as root sees it (root passes os.access): the answer of the OS decides.
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(locked))
    fails(capsys, ["--config", str(tiny / "tiny.yaml"), "--out", str(locked / "run")], f"{locked} is not writable")
    assert not (locked / "run").exists()


def test_resume_needs_an_existing_run(tiny, tmp_path, capsys):
    missing = tmp_path / "never-ran"
    fails(capsys, ["--config", str(tiny / "tiny.yaml"), "--out", str(missing), "--resume"],
          "no such run folder to resume")
    assert not missing.exists()  # not a fresh run
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(capsys, ["--out", str(empty), "--resume"], "holds no run to resume (no config.yaml)")
    fails(capsys, ["--out", str(empty), "--resume"], "no depth/config.yaml", stage="depth")


def test_a_failed_teacher_load_leaves_nothing_that_blocks_the_same_command(tiny, tmp_path, capsys):
    broken = tmp_path / "broken-teacher"
    shutil.copytree(tiny / "backbone", broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    out = tmp_path / "run"
    argv = ["--config", str(tiny / "tiny.yaml"), "--teacher", str(broken), "--out", str(out)]
    first = fails(capsys, argv, "broken-teacher")
    assert not out.exists()  # the config and data copies it wrote are gone again
    assert fails(capsys, argv, "broken-teacher") == first  # the same answer, not "already holds a run"
    # A run folder left by a kill -9 before any training (a config, no state) does not block either.
    save_config(build_config(files=[tiny / "tiny.yaml"]), out / "config.yaml")
    assert fails(capsys, argv, "broken-teacher") == first
    assert (out / "config.yaml").exists()  # a folder it did not create is left in place

    backbone = ["--config", str(tiny / "tiny.yaml"), "--backbone", str(broken), "--out", str(tmp_path / "b")]
    fails(capsys, backbone, "broken-teacher")
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------- files read back


def test_a_checkpoint_or_summary_of_the_wrong_shape_is_named(tmp_path):
    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    record = {"format": "dynabert-edge/checkpoint", "version": 1, "stage": "depth", "task": "sst2",
              "label_names": ["negative", "positive"], "rewired": True, "extra": []}
    (ckpt / "dynabert.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"dynabert.json: field 'extra' must be an object"):
        saved_metrics(ckpt, "accuracy")
    record["extra"] = {"metrics": {"w1_d1": {"accuracy": "high"}}}
    (ckpt / "dynabert.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="field extra.metrics"):
        saved_metrics(ckpt, "accuracy")
    record["extra"] = {"metrics": {"w1_d1": {"accuracy": 0.9}}, "score": 0.9}
    (ckpt / "dynabert.json").write_text(json.dumps(record))
    assert saved_metrics(ckpt, "accuracy")[1] == {"w1_d1": {"accuracy": 0.9}}

    summary = tmp_path / "summary.json"
    summary.write_text("{torn")
    with pytest.raises(ResumeError, match="summary.json: corrupt stage summary"):
        _read_summary(summary)
    summary.write_text("[1, 2]")
    with pytest.raises(ResumeError, match="a stage summary is a JSON object"):
        _read_summary(summary)



def test_an_augmentation_cache_of_the_wrong_shape_names_file_and_line(tmp_path):
    from dynabert.data import DataError
    from train.augment import _read_cache

    cache = tmp_path / "augment-0.jsonl"
    good = {"text": "a fine film", "text_pair": None, "label": 1, "source": "train.tsv:2"}
    cache.write_text(json.dumps(good) + "\n")
    assert _read_cache(cache)[0].text == "a fine film"
    for bad in ("{torn", json.dumps({**good, "label": "one"}), json.dumps([good])):
        cache.write_text(json.dumps(good) + "\n" + bad + "\n")
        with pytest.raises(DataError, match=r"augment-0.jsonl:2: .*delete the file to rebuild it"):
            _read_cache(cache)

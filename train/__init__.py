"""DynaBERT training: teacher -> DynaBERT_w -> DynaBERT (-> fine-tuning), from a backbone to a checkpoint.

Entry points: ``python -m train.all`` (every stage) and ``python -m train.teacher`` / ``train.width`` /
``train.depth`` / ``train.finetune``. The loop is in :mod:`train.loop`, the losses in :mod:`train.losses`,
the stages in :mod:`train.stages`, the config and presets in :mod:`train.config`.
"""


def entry(stage: str) -> None:
    """``python -m train.<stage>``. The CLI imports torch (seconds); Ctrl-C then has nothing to resume."""
    import sys

    try:
        from train.cli import stage_main
    except KeyboardInterrupt:
        print("\ninterrupted while starting; nothing was written", file=sys.stderr)
        sys.exit(130)
    stage_main(stage)

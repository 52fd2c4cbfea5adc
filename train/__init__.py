"""DynaBERT training: teacher -> DynaBERT_w -> DynaBERT (-> fine-tuning), from a backbone to a checkpoint.

Entry points: ``python -m train.all`` (every stage) and ``python -m train.teacher`` / ``train.width`` /
``train.depth`` / ``train.finetune``. The loop is in :mod:`train.loop`, the losses in :mod:`train.losses`,
the stages in :mod:`train.stages`, the config and presets in :mod:`train.config`.
"""

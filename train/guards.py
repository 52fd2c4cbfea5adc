"""Checks that run before a run folder is touched: the --out folder, and --max-length against the model.

Each failure is a :class:`GuardError` whose message is the one line the user sees; nothing here writes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from transformers import AutoConfig

from dynabert.backbone import BackboneError, resolve_backbone
from train.config import STAGE_NAMES
from train.loop import CHECKPOINT_DIR, LOG_FILE, STATE_FILE, SUMMARY_FILE

#: What a stage folder holds once training has started; a folder without any of these holds no progress.
PROGRESS_NAMES = (STATE_FILE, LOG_FILE, CHECKPOINT_DIR, SUMMARY_FILE)


class GuardError(ValueError):
    """A command line that cannot work (a bad --out, a --max-length the model cannot take)."""


def check_out(out: Path, resume: bool, run_config: Path) -> None:
    """``--out`` must be a folder that is (or can be) created and written; with ``--resume``, a run's folder."""
    if out.exists() and not out.is_dir():
        raise GuardError(f"--out {out}: is a file, not a folder; choose a folder for the run")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise GuardError(f"--out {out}: {existing} is a file, so no folder can be made under it")
    # os.access answers for the real user; root passes it, and then the OS will let the writes through too.
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise GuardError(f"--out {out}: {existing} is not writable")
    if resume:
        if not out.is_dir():
            raise GuardError(f"--out {out}: no such run folder to resume; drop --resume to start a new run")
        if not run_config.is_file():
            raise GuardError(f"--out {out}: holds no run to resume (no {run_config.relative_to(out)}); drop "
                             "--resume to start a new run")


def has_progress(folder: Path, stages: tuple[str, ...] = STAGE_NAMES) -> bool:
    """Whether any of ``stages`` under ``folder`` began training (a state, a log, a checkpoint)."""
    return any((folder / stage / name).exists() for stage in stages for name in PROGRESS_NAMES)


def new_folders(out: Path, stage: str) -> list[Path]:
    """The folders this command would create (outermost first), to remove again if it fails early."""
    candidates = [out] if stage == "all" else [out, out / stage]
    return [p for p in candidates if not p.exists()]


def discard_untouched(created: list[Path], out: Path, stages: tuple[str, ...]) -> bool:
    """Remove the folders a failed command created, unless training began; True if it removed them.

    A run folder that holds only a config and data copies would otherwise stand in the way of the same
    command (or, after a kill -9, would be a "run" with nothing to resume).
    """
    if not created or has_progress(out, stages):
        return False
    shutil.rmtree(created[0], ignore_errors=True)  # the outermost: the rest lies inside it
    return True


def position_limit(model: str | Path) -> int:
    """The longest input the model's position table takes (RoBERTa's first pad_token_id + 1 rows are reserved)."""
    source = resolve_backbone(model)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackboneError(f"{model}: cannot read the model config ({first})") from None
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int):
        raise BackboneError(f"{model}: config.json has no max_position_embeddings")
    if config.model_type == "roberta":
        # RoBERTa numbers positions from pad_token_id + 1 (514 rows -> 512 tokens).
        positions -= (config.pad_token_id or 0) + 1
    return positions


def check_max_length(max_length: int, model: str | Path) -> None:
    """``data.max_length`` must fit the position table of the model that will be trained."""
    limit = position_limit(model)
    if max_length > limit:
        raise GuardError(f"data.max_length (--max-length) {max_length}: {model} has {limit} positions; use "
                         f"{limit} or less")

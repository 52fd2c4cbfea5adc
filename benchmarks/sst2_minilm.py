"""The real SST-2 run and its published report: ``benchmarks/glue_minilm.py --task sst2`` under its first name.

    python benchmarks/sst2_minilm.py                  # train, ablations, export, device_bench, publish
    python benchmarks/sst2_minilm.py --publish-only   # rewrite docs/results/sst2-minilm.* from the run's files

docs/results/sst2-minilm.md was published with this command; glue_minilm.py keeps its layout (``layout=1``)
so that it regenerates byte for byte from the run's files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import glue_minilm

SPEC = glue_minilm.RUNS["sst2"]


def publish(notes_file: Path | None, run: Path | None = None, ablations_dir: Path | None = None,
            docs: Path | None = None) -> Path:
    """``glue_minilm.publish`` for SST-2 (the signature this script always had)."""
    return glue_minilm.publish(SPEC, notes_file, run, ablations_dir, docs)


def main(argv: list[str] | None = None) -> int:
    return glue_minilm.main(argv, task="sst2")


if __name__ == "__main__":
    sys.exit(main())

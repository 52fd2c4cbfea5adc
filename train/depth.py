"""Stage 2, DynaBERT (width and depth distillation): `python -m train.depth --help`."""

from train.cli import stage_main

if __name__ == "__main__":
    stage_main("depth")

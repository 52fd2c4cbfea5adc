"""Stage 1, DynaBERT_w (importance, rewiring, width distillation): `python -m train.width --help`."""

from train.cli import stage_main

if __name__ == "__main__":
    stage_main("width")

"""Stage 1, DynaBERT_w (importance, rewiring, width distillation): `python -m train.width --help`."""

from train import entry

if __name__ == "__main__":
    entry("width")

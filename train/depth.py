"""Stage 2, DynaBERT (width and depth distillation): `python -m train.depth --help`."""

from train import entry

if __name__ == "__main__":
    entry("depth")

"""Train a DynaBERT, stages 0 -> 3: `python -m train.all --help`."""

from train.cli import stage_main

if __name__ == "__main__":
    stage_main("all")

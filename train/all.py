"""Train a DynaBERT, stages 0 -> 3: `python -m train.all --help`."""

from train import entry

if __name__ == "__main__":
    entry("all")

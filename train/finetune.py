"""Stage 3, optional fine-tuning of all sub-networks on hard labels: `python -m train.finetune --help`."""

from train import entry

if __name__ == "__main__":
    entry("finetune")

"""Stage 3, optional fine-tuning of all sub-networks on hard labels: `python -m train.finetune --help`."""

from train.cli import stage_main

if __name__ == "__main__":
    stage_main("finetune")

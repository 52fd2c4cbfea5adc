"""Stage 0, fine-tune the teacher: `python -m train.teacher --help`."""

from train.cli import stage_main

if __name__ == "__main__":
    stage_main("teacher")

"""Stage 0, fine-tune the teacher: `python -m train.teacher --help`."""

from train import entry

if __name__ == "__main__":
    entry("teacher")

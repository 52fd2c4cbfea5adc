"""Curves of a stage from its JSONL log: the main metric of each sub-network over steps, and the loss."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI; must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402


def read_log(path: str | Path) -> list[dict]:
    records = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            records.append(json.loads(line))
    return records


def plot_log(log_path: str | Path, png_path: str | Path, title: str = "") -> Path:
    """Draw one line per sub-network (dev main metric vs step) beside the training loss; write a PNG."""
    records = read_log(log_path)
    evals = [r for r in records if r.get("type") == "eval"]
    trains = [r for r in records if r.get("type") == "train"]
    fig, (ax_metric, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    if evals:
        metric = evals[-1]["main_metric"]
        names = list(evals[-1]["metrics"])
        cmap = plt.get_cmap("viridis", max(len(names), 2))
        for i, name in enumerate(names):
            points = [(r["step"], r["metrics"][name][metric]) for r in evals if name in r["metrics"]]
            xs, ys = zip(*points, strict=True)
            ax_metric.plot(xs, ys, marker="o", ms=3, color=cmap(i), label=name)
        ax_metric.set_xlabel("step")
        ax_metric.set_ylabel(f"dev {metric}")
        ax_metric.legend(fontsize=7, ncol=2)
        ax_metric.grid(alpha=0.3)
    if trains:
        ax_loss.plot([r["step"] for r in trains], [r["loss"] for r in trains], color="black", marker=".")
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("training loss (sum over sub-networks)")
        if min(r["loss"] for r in trains) > 0:
            ax_loss.set_yscale("log")
        ax_loss.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    tmp = png_path.with_name(f".{png_path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png_path)
    return png_path

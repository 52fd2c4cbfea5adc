"""``report.html`` with the Pareto plots (accuracy vs p50 latency, accuracy vs size), PNGs beside it.

Each point is one artifact, one marker shape per format; latency is the artifact's own runtime at
1 thread (else the fewest threads measured) and the longest measured sequence length. The line joins
the Pareto-optimal points: nothing else is both at least as accurate and at least as fast (or small).
"""

from __future__ import annotations

import html
from pathlib import Path

from dynabert.fileio import atomic_file

from .io import write_text
from .runtimes import ACCURACY_RUNTIME

_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p"]


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (cost, value) not dominated by another (lower-or-equal cost and higher-or-equal value)."""
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for cost, value in sorted(points, key=lambda p: (p[0], -p[1])):
        if value > best:
            front.append((cost, value))
            best = value
    return front


def plot_points(results: dict) -> list[dict]:
    """One point per artifact with a metric: format, metric (x100), p50 ms (own runtime) and MB."""
    rows = [r for r in results["rows"] if r.get("status") == "ok" and r.get("device") is None]
    if not rows:
        seq = None
    else:
        seq = max(r["seq_len"] for r in rows)
    points = []
    for a in results["artifacts"]:
        if a.get("metric") is None:
            continue
        own = ACCURACY_RUNTIME.get(a["runtime"], a["runtime"])
        mine = sorted((r for r in rows if r["artifact"] == a["id"] and r["runtime"] == own and r["seq_len"] == seq),
                      key=lambda r: r["threads"])
        points.append({"id": a["id"], "format": a["format"], "metric": 100 * a["metric"],
                       "p50_ms": mine[0]["p50_ms"] if mine else None, "threads": mine[0]["threads"] if mine else None,
                       "mb": (a.get("bytes") or 0) / 1e6})
    return points


def _plot(points: list[dict], x_key: str, x_label: str, title: str, path: Path, metric: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [p for p in points if p.get(x_key) is not None]
    if not usable:
        return False
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    formats = sorted({p["format"] for p in usable})
    for i, fmt in enumerate(formats):
        mine = [p for p in usable if p["format"] == fmt]
        ax.scatter([p[x_key] for p in mine], [p["metric"] for p in mine], marker=_MARKERS[i % len(_MARKERS)],
                   s=42, label=fmt, alpha=0.85)
    front = pareto_front([(p[x_key], p["metric"]) for p in usable])
    if len(front) > 1:
        ax.step([c for c, _ in front], [v for _, v in front], where="post", color="black", linewidth=0.8,
                alpha=0.6, label="Pareto front")
    ax.set_xscale("log")
    # Plain numbers at 1-2-5 steps: matplotlib's default labels every minor tick of a short log range and
    # they overlap.
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"{metric} (×100)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True


def write_report(results: dict, out: Path) -> list[Path]:
    """Write the PNGs and ``report.html`` into ``out``; return the PNG paths written."""
    points = plot_points(results)
    metric = results["metric_name"]
    seqs = [r["seq_len"] for r in results["rows"] if r.get("status") == "ok"]
    seq = max(seqs) if seqs else None
    written = []
    lat_png, size_png = out / "pareto_latency.png", out / "pareto_size.png"
    if _plot(points, "p50_ms", f"p50 latency, ms (own runtime, 1 thread, seq {seq}; log scale)",
             f"{results['task']}: accuracy vs latency", lat_png, metric):
        written.append(lat_png)
    if _plot(points, "mb", "size on disk, MB (log scale)", f"{results['task']}: accuracy vs size", size_png, metric):
        written.append(size_png)
    write_text(out / "report.html", _html(results, written))
    return written


def _table_html(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _html(results: dict, pngs: list[Path]) -> str:
    from .table import markdown

    # The Markdown tables are the single rendering of the numbers; the HTML shows them as tables.
    images = "".join(f'<figure><img src="{p.name}" alt="{p.stem}"><figcaption>{p.name}</figcaption></figure>'
                     for p in pngs) or "<p>No plot: no artifact has both a metric and a latency.</p>"
    sections, current = [], None
    for line in markdown(results).splitlines():
        if line.startswith("## Accuracy and size"):  # the plots go between the summary and the long tables
            sections.append(f"<h2>Pareto plots</h2>{images}")
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
            if current is None:
                current = {"header": cells, "body": []}
            elif not set(line) <= set("|-: "):
                current["body"].append(cells)
            continue
        if current is not None:
            sections.append(_table_html(current["header"], current["body"]))
            current = None
        if line.startswith("# "):
            sections.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            sections.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            sections.append(f"<li>{html.escape(line[2:])}</li>")
    if current is not None:
        sections.append(_table_html(current["header"], current["body"]))
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:0 1em 1em 0}"
             "img{max-width:640px}")
    body = "\n".join(sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>device_bench {html.escape(results['task'])}"
            f"</title><style>{style}</style></head><body>{body}</body></html>\n")

"""``report.html``: one self-contained page (no network: CSS, JS and the PNG plots are inline) to pick from.

Top to bottom: the pick table (one row per sub-model), the Pareto-front models with the exact
``python -m device_bench.pick`` command that selects (and, for ONNX/ORT files, installs) each, the plots,
how it was measured, then the long tables. Every table sorts by a click on its header; the long tables
filter by runtime, precision, threads and length.

Plots (also written as PNGs beside the page): accuracy vs p50 latency and accuracy vs size, one panel per
runtime, each point labelled with its sub-model and the front drawn per panel (each file on its own
runtime at 1 thread, else the fewest threads measured, and the longest measured length: what ``pick``
compares); and the width x depth grid as heat maps of the PyTorch metric and the fastest p50.
"""

from __future__ import annotations

import base64
import html
import shlex
from pathlib import Path

from dynabert.fileio import atomic_file
from dynabert.runtimes import own_runtime

from .io import write_text
from .pick_table import pareto_front  # noqa: F401  (re-exported: report.pareto_front was its first home)

_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p"]
_FILTERS = ("runtime", "precision", "threads", "seq")


def plot_points(results: dict) -> list[dict]:
    """One point per artifact with a metric: subnet, format, runtime, metric (x100), p50 ms (own runtime), MB."""
    rows = [r for r in results["rows"] if r.get("status") == "ok" and r.get("device") is None]
    seq = max((r["seq_len"] for r in rows), default=None)
    points = []
    for a in results["artifacts"]:
        if a.get("metric") is None or a.get("export_status") == "failed":
            continue
        own = own_runtime(a["runtime"]) or a["runtime"]
        mine = sorted((r for r in rows if r["artifact"] == a["id"] and r["runtime"] == own and r["seq_len"] == seq),
                      key=lambda r: r["threads"])
        points.append({"id": a["id"], "subnet": a["subnet"], "format": a["format"], "runtime": own,
                       "metric": 100 * a["metric"], "p50_ms": mine[0]["p50_ms"] if mine else None,
                       "threads": mine[0]["threads"] if mine else None, "mb": (a.get("bytes") or 0) / 1e6})
    return points


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")


def _plot(points: list[dict], x_key: str, x_label: str, title: str, path: Path, metric: str) -> bool:
    """One panel per runtime: markers per format, every point named by its sub-model, that runtime's front."""
    usable = [p for p in points if p.get(x_key)]
    if not usable:
        return False
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    runtimes = sorted({p["runtime"] for p in usable})
    cols = min(2, len(runtimes))
    rows = (len(runtimes) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 5.2 * rows), dpi=100, squeeze=False)
    formats = sorted({p["format"] for p in usable})
    for ax, runtime in zip(axes.flat, runtimes, strict=False):
        mine = [p for p in usable if p["runtime"] == runtime]
        for i, fmt in enumerate(formats):
            sel = [p for p in mine if p["format"] == fmt]
            if sel:
                ax.scatter([p[x_key] for p in sel], [p["metric"] for p in sel], marker=_MARKERS[i % len(_MARKERS)],
                           s=40, label=fmt, alpha=0.85)
        for p in mine:
            ax.annotate(p["subnet"], (p[x_key], p["metric"]), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        alpha=0.8)
        front = pareto_front([(p[x_key], p["metric"]) for p in mine])
        if len(front) > 1:
            ax.step([c for c, _ in front], [v for _, v in front], where="post", color="black", linewidth=0.9,
                    alpha=0.6, label="Pareto front")
        ax.set_xscale("log")
        # Plain numbers at 1-2-5 steps: matplotlib's default labels every minor tick of a short log range and
        # they overlap.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"{metric} (×100)")
        ax.set_title(runtime, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(runtimes):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def _grid_plot(results: dict, path: Path) -> bool:
    """Width x depth heat maps: the PyTorch metric and the fastest file's p50 (1 thread, default length)."""
    from .pick_table import build

    pt = build(results)
    widths = sorted({r.width_mult for r in pt.rows}, reverse=True)
    depths = sorted({r.depth_mult for r in pt.rows}, reverse=True)
    if len(widths) * len(depths) < 2:
        return False
    import numpy as np

    at = {(r.width_mult, r.depth_mult): r for r in pt.rows}

    def grid(value):
        g = np.full((len(widths), len(depths)), np.nan)
        for i, w in enumerate(widths):
            for j, d in enumerate(depths):
                r = at.get((w, d))
                v = value(r) if r is not None else None
                if v is not None:
                    g[i, j] = v
        return g

    metric = grid(lambda r: None if r.metric_pytorch is None else 100 * r.metric_pytorch)
    fastest = grid(lambda r: min((v[0] for v in r.p50.values()), default=None))
    panels = [(metric, f"{pt.metric_name} (×100), PyTorch", "viridis", "{:.1f}"),
              (fastest, f"fastest p50 ms (1 thread, seq {pt.seq_len})", "magma_r", "{:.3g}")]
    panels = [p for p in panels if not np.isnan(p[0]).all()]
    if not panels:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), dpi=100, squeeze=False)
    for ax, (g, label, cmap, fmt) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(g, cmap=cmap, aspect="auto")
        fig.colorbar(im, ax=ax, shrink=0.85)
        ax.set_xticks(range(len(depths)), [f"{d:g}" for d in depths])
        ax.set_yticks(range(len(widths)), [f"{w:g}" for w in widths])
        ax.set_xlabel("depth multiplier")
        ax.set_ylabel("width multiplier")
        ax.set_title(label, fontsize=10)
        for i in range(len(widths)):
            for j in range(len(depths)):
                if not np.isnan(g[i, j]):
                    ax.text(j, i, fmt.format(g[i, j]), ha="center", va="center", fontsize=8, color="white",
                            bbox={"facecolor": "black", "alpha": 0.35, "pad": 1, "linewidth": 0})
    fig.suptitle(f"{results['task']}: the width × depth grid")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def write_report(results: dict, out: Path) -> list[Path]:
    """Write the PNGs and ``report.html`` into ``out``; return the PNG paths written."""
    points = plot_points(results)
    metric = results["metric_name"]
    seqs = [r["seq_len"] for r in results["rows"] if r.get("status") == "ok"]
    seq = max(seqs) if seqs else None
    written = []
    lat_png, size_png, grid_png = out / "pareto_latency.png", out / "pareto_size.png", out / "grid.png"
    if _plot(points, "p50_ms", f"p50 latency, ms (own runtime, 1 thread, seq {seq}; log scale)",
             f"{results['task']}: accuracy vs latency", lat_png, metric):
        written.append(lat_png)
    if _plot(points, "mb", "size on disk, MB (log scale)", f"{results['task']}: accuracy vs size", size_png, metric):
        written.append(size_png)
    if _grid_plot(results, grid_png):
        written.append(grid_png)
    write_text(out / "report.html", html_page(results, written, results_path=out / "results.json"))
    return written


# ---------------------------------------------------------------------------------------------- HTML


def _table_html(t, table_id: str) -> str:
    align = "".join(f".{table_id} td:nth-child({i + 1}){{text-align:left}}" for i, a in enumerate(t.align)
                    if a == "l")
    head = "".join(f'<th scope="col" title="click to sort">{html.escape(h)}</th>' for h in t.header)
    body = []
    for cells, attrs in zip(t.rows, t.attrs, strict=True):
        data = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in attrs.items() if k in _FILTERS)
        body.append(f"<tr{data}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in t.notes)
    return (f"<style>{align}</style>{notes}<div class='wide'><table id='{table_id}' class='sortable {table_id}'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _filters_html(tables) -> str:
    values: dict[str, set[str]] = {k: set() for k in _FILTERS}
    for t in tables:
        for attrs in t.attrs:
            for k in _FILTERS:
                if attrs.get(k):
                    values[k].add(str(attrs[k]))
    labels = {"runtime": "runtime", "precision": "precision", "threads": "threads", "seq": "length"}
    parts = []
    for k in _FILTERS:
        if not values[k]:
            continue
        opts = sorted(values[k], key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))
        options = "".join(f"<option>{html.escape(v)}</option>" for v in opts)
        parts.append(f"<label>{labels[k]} <select class='filter' data-key='{k}'><option value=''>all</option>"
                     f"{options}</select></label>")
    return f"<div class='filters'>Filter the tables below: {' '.join(parts)} <span id='shown'></span></div>"


def _fronts_html(results: dict, results_path: Path | str) -> str:
    from .pick_table import build, pick_command

    pt = build(results)
    ids = list(dict.fromkeys(pt.latency_front + pt.size_front))
    if not ids:
        return "<p>No Pareto front: no file has both a metric and a latency or size.</p>"
    items = []
    path = shlex.quote(str(results_path))
    for ident in sorted(ids, key=lambda i: -(pt.candidates[i].metric or 0)):
        c = pt.candidates[ident]
        fronts = " and ".join(n for n, f in (("latency", pt.latency_front), ("size", pt.size_front)) if ident in f)
        lat = "—" if c.p50_ms is None else f"{c.p50_ms:.3g} ms on {c.runtime}"
        metric = "—" if c.metric is None else f"{100 * c.metric:.2f}"
        cmd = pick_command(pt, ident, path)
        shown = (f"<code>{html.escape(cmd)}</code>" if cmd else
                 "<em>no single latency/size budget selects only this file</em>")
        if cmd and "--install-into" not in cmd:
            shown += " <em>(the app runs ONNX Runtime: this file is chosen, not installed)</em>"
        items.append(f"<li><b>{html.escape(ident)}</b> ({fronts} front): {pt.metric_name} {metric}, p50 {lat}, "
                     f"{c.mb:.2f} MB<br>{shown}</li>")
    return f"<ul class='fronts'>{''.join(items)}</ul>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;max-width:1500px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:.6em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#fafafa}tbody tr:hover{background:#eef4ff}
.pick td:last-child{font-weight:bold;color:#0a5}
figure{display:inline-block;margin:0 1em 1em 0}img{max-width:100%}
code{background:#f5f5f5;padding:1px 4px;font-size:12px;word-break:break-all}
.fronts li{margin:.4em 0}.note{font-size:12px;color:#555;max-width:1100px}
.filters{position:sticky;top:0;background:#fff;padding:.4em 0;z-index:2;font-size:13px}
.filters select{margin-right:.8em}.wide{overflow-x:auto}
"""

# Hand-written (a few lines) rather than a table library: the page must work offline, with nothing fetched.
_SCRIPT = """
(function(){
function num(td){
  var m=td.textContent.trim().match(/^[+-]?\\d+(\\.\\d+)?(e[+-]?\\d+)?/i);return m?parseFloat(m[0]):null;}
function sortBy(table,i,th){
  var asc=th.getAttribute('aria-sort')!=='ascending';
  table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    var x=num(a.cells[i]),y=num(b.cells[i]);
    if(x===null&&y===null){var c=a.cells[i].textContent.localeCompare(b.cells[i].textContent);return asc?c:-c;}
    if(x===null)return 1;if(y===null)return -1;   /* no number ("n/a", "-") last either way */
    return asc?x-y:y-x;});
  rows.forEach(function(r){body.appendChild(r);});
}
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){sortBy(t,i,th);});});});
function applyFilters(){
  var want={},shown=0,total=0;
  document.querySelectorAll('select.filter').forEach(function(s){if(s.value)want[s.dataset.key]=s.value;});
  document.querySelectorAll('table.sortable tbody tr').forEach(function(tr){
    var keys=Object.keys(want).filter(function(k){return tr.hasAttribute('data-'+k);});
    if(!Object.keys(tr.dataset).length)return;
    var ok=keys.every(function(k){return tr.getAttribute('data-'+k)===want[k];});
    tr.style.display=ok?'':'none';total++;if(ok)shown++;});
  var el=document.getElementById('shown');if(el)el.textContent=shown+' of '+total+' rows shown';
}
document.querySelectorAll('select.filter').forEach(function(s){s.addEventListener('change',applyFilters);});
applyFilters();
})();
"""


def html_page(results: dict, pngs: list[Path], results_path: Path | str = "results.json") -> str:
    from .table import headlines, markdown, tables

    pick, *long_tables = tables(results)
    title = f"device_bench: {results['task']} — {len(results['artifacts'])} artifacts"
    # The "How this was measured" bullets are rendered once, in table.markdown; the page shows them as a list.
    md = markdown(results)
    how = md.split("## How this was measured", 1)[-1].split("## Headline ratios", 1)[0]
    how_items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in how.splitlines() if line.startswith("- "))
    images = []
    for p in pngs:
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        images.append(f'<figure><img src="data:image/png;base64,{data}" alt="{p.stem}">'
                      f"<figcaption>{p.name}</figcaption></figure>")
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<h2>{html.escape(pick.title)}</h2>", _table_html(pick, "pick"),
        "<h2>Models on a Pareto front, and the command that picks each</h2>",
        "<p class='note'>Run from the repository root. Budgets are the file's own p50 (its runtime, 1 thread, "
        "the longest measured length) and size; add <code>--replace</code> to remove the other models from "
        "the app.</p>",
        _fronts_html(results, results_path),
        "<h2>Plots</h2>", "".join(images) or "<p>No plot: no artifact has both a metric and a latency.</p>",
        "<h2>How this was measured</h2>", f"<ul>{how_items}</ul>",
        "<h2>Headline ratios</h2>", "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in headlines(results))
        + "</ul>",
        _filters_html(long_tables),
    ]
    for i, t in enumerate(long_tables):
        sections += [f"<h2>{html.escape(t.title)}</h2>", _table_html(t, f"long{i}")]
    body = "\n".join(sections)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{body}<script>{_SCRIPT}</script></body></html>\n")

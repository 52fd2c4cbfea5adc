"""The summary printed at the end of ``export.all``: one row per sub-model, one column per format."""

from __future__ import annotations

#: passed / unverified (checks passed, parity not runnable on this OS) / failed
MARKS = {"passed": "ok", "unverified": "~", "failed": "FAIL"}


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f}"


def summary_table(manifest: dict, elapsed_s: float | None = None) -> str:
    """Sizes (MB) and verification marks of every artifact, plus the parity of the reduced-precision files."""
    formats = manifest["formats"]
    by_id = {a["id"]: a for a in manifest["artifacts"]}
    header = ["subnet", "params(M)", "GFLOPs@128"] + formats
    rows = [header]
    for subnet in manifest["subnets"]:
        row = [subnet["name"], f"{subnet['params']['total'] / 1e6:.2f}", f"{subnet['flops_seq128'] / 1e9:.2f}"]
        for fmt in formats:
            art = by_id.get(f"{subnet['name']}/{fmt}")
            row.append("" if art is None else f"{_mb(art['bytes'])} {MARKS.get(art['status'], '?')}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))

    approx = [a for a in manifest["artifacts"] if a.get("parity") and a["parity"].get("gate") == "approx"]
    if approx and all(a["parity"]["argmax_agreement"] is not None for a in approx):
        worst = min(approx, key=lambda a: a["parity"]["argmax_agreement"])
        lines.append(f"reduced precision: lowest argmax agreement {worst['parity']['argmax_agreement']:.3f} "
                     f"on {worst['parity']['n']} inputs ({worst['id']}); "
                     f"largest |logit diff| {max(a['parity']['max_abs_diff'] for a in approx):.3g}")
    s = manifest.get("summary", {})
    tail = (f"sizes in MB; ok = verified, ~ = checks passed but not runnable here, FAIL = failed. "
            f"{s.get('passed', 0)} passed, {s.get('unverified', 0)} unverified, {s.get('failed', 0)} failed")
    if elapsed_s is not None:
        tail += f"; {elapsed_s:.0f} s"
    lines.append(tail)
    return "\n".join(lines)

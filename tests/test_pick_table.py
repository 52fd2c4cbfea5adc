"""The table a user picks from (issue 15): the pick table, the plots, the self-contained report, ``pick
--explain``, and the exported ONNX folders loading in place with optimum and ``transformers.pipeline``.

The tiny exported set (4 sub-models) is conftest's shared fixture, as in tests/test_device_bench.py; the
12-row pick table and the report are also checked on a synthetic 4 x 3 results dict, whose numbers are
built so the fronts are known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device_bench.harness import RESULTS_SCHEMA

# ---------------------------------------------------------------------------------------------- optimum


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_onnx_folders_load_in_place_with_optimum_and_pipeline(tiny_export, fmt):
    import onnxruntime as ort
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    manifest = json.loads(tiny_export.read_text())
    root = tiny_export.parent
    arts = [a for a in manifest["artifacts"] if a["format"] == fmt and a["status"] != "failed"]
    assert arts, f"the tiny export has no {fmt} file"
    texts = ["a charming and often affecting journey", "dull, flat and far too long"]
    for art in arts:
        path = root / art["path"]
        folder = path.parent
        before = sorted(p.name for p in folder.iterdir())
        kwargs = {} if fmt == "onnx" else {"file_name": path.name}  # model.onnx is optimum's default name
        model = ORTModelForSequenceClassification.from_pretrained(folder, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        clf = pipeline("text-classification", model=model, tokenizer=tokenizer)
        got = [r["label"] for r in clf(texts)]
        # The same file run directly: the pipeline must have loaded this very file, not a neighbour.
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        wanted = []
        for text in texts:
            enc = tokenizer(text, return_tensors="np")
            feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
            logits = session.run(None, feed)[0]
            wanted.append(model.config.id2label[int(np.argmax(logits[0]))])
        assert got == wanted, art["id"]
        assert set(got) <= set(model.config.id2label.values())
        assert sorted(p.name for p in folder.iterdir()) == before, "loading must not write into the folder"


# ---------------------------------------------------------------------------------------------- synthetic 4 x 3

WIDTHS, DEPTHS = (1.0, 0.75, 0.5, 0.25), (1.0, 0.75, 0.5)
#: format -> (runtime in the manifest, measured runtime, precision, relative time, bytes per unit, metric delta)
SYN_FORMATS = {
    "hf": ("transformers", "pytorch", "fp32", 2.0, 90e6, 0.0),
    "onnx": ("onnxruntime", "onnxruntime-cpu", "fp32", 1.0, 88e6, 0.0),
    "onnx-int8": ("onnxruntime", "onnxruntime-cpu", "int8", 0.55, 23e6, -0.004),
    "ort": ("onnxruntime-mobile", "onnxruntime-mobile", "fp32", 1.1, 88e6, 0.0),
    "ort-int8": ("onnxruntime-mobile", "onnxruntime-mobile", "int8", 0.6, 23e6, -0.004),
    "pte": ("executorch-xnnpack", "executorch-xnnpack", "fp32", 0.9, 89e6, 0.0),
}


def synthetic_results(seed: int = 0) -> dict:
    """A results.json-shaped dict for the 4 x 3 grid: metric rises with width and depth, time and size with
    width x depth, and a seeded jitter so the fronts are not simply the whole diagonal."""
    rng = np.random.default_rng(seed)
    artifacts, rows, subnets = [], [], []
    for w in WIDTHS:
        for d in DEPTHS:
            name = f"w{w:g}_d{d:g}"
            subnets.append({"name": name, "width_mult": w, "depth_mult": d, "flops": {}})
            base = 0.80 + 0.05 * w + 0.06 * d + float(rng.normal(0, 0.004))
            for fmt, (mrt, rt, prec, tm, per, dm) in SYN_FORMATS.items():
                aid = f"{name}/{fmt}"
                metric = round(base + dm + float(rng.normal(0, 0.002)), 4)
                size = int(per * (0.25 + 0.75 * w * d) * (1 + float(rng.normal(0, 0.01))))
                artifacts.append({"id": aid, "subnet": name, "width_mult": w, "depth_mult": d, "format": fmt,
                                  "precision": prec, "runtime": mrt, "path": f"/nowhere/{aid}", "rel_path": aid,
                                  "sha256": None, "export_status": "passed", "max_length": 128,
                                  "input_names": ["input_ids", "attention_mask"], "input_dtypes": ["int64"] * 2,
                                  "accuracy": {"status": "ok", "metric": metric, "runtime": rt}, "metric": metric,
                                  "bytes": size, "deflate_bytes": int(size * 0.9), "params": None})
                for threads in (1, 2):
                    for seq in (32, 128):
                        p50 = tm * (0.6 + 9.0 * w * d) * seq / 128 / threads * (1 + float(rng.normal(0, 0.02)))
                        rows.append({"artifact": aid, "subnet": name, "width_mult": w, "depth_mult": d,
                                     "format": fmt, "precision": prec, "runtime": rt, "threads": threads,
                                     "seq_len": seq, "status": "ok", "reason": None, "n": 20, "p50_ms": p50,
                                     "p90_ms": p50 * 1.1, "p99_ms": p50 * 1.2, "load_ms": 10.0,
                                     "first_inference_ms": 2 * p50, "metric": metric, "bytes": size,
                                     "deflate_bytes": int(size * 0.9), "export_status": "passed", "device": None})
    return {
        "schema": RESULTS_SCHEMA, "created": "2026-12-01T00:00:00Z", "manifest": "/nowhere/m.json",
        "task": "sst2", "metric_name": "accuracy", "dev": {"path": "dev.tsv", "examples": 872, "fingerprint": "x"},
        "dev_reason": None, "teacher_metric": {"value": 0.91, "source": "given"}, "full_subnet": "w1_d1",
        "environment": {"cpu": "test cpu", "cores": 2, "platform": "linux", "versions": {"onnxruntime": "1"}},
        "settings": {"seq_lens": [32, 128], "warmup": 1, "min_runs": 5, "min_seconds": 0.02, "spread_limit": 1.5},
        "subnets": subnets, "artifacts": artifacts, "skipped": [], "rows": rows, "android": {"status": "off"},
        "rss_method": "none", "wall_seconds": 1.0,
    }


def _dominated(point: tuple[float, float], others: list[tuple[float, float]]) -> bool:
    cost, value = point
    return any(c <= cost and v >= value and (c < cost or v > value) for c, v in others)


def _own_p50(results: dict, artifact: dict) -> float:
    from device_bench.runtimes import ACCURACY_RUNTIME

    own = ACCURACY_RUNTIME[artifact["runtime"]]
    return next(r["p50_ms"] for r in results["rows"] if r["artifact"] == artifact["id"] and r["runtime"] == own
                and r["threads"] == 1 and r["seq_len"] == 128)


def test_pick_table_rows_match_a_direct_reading_of_the_results():
    from device_bench import pick_table as P

    res = synthetic_results()
    for item in res["artifacts"] + res["rows"]:  # a failed file is never the smallest, fastest or on a front
        if item.get("id", item.get("artifact")) == "w1_d1/onnx-int8":
            item["export_status"] = "failed"
    pt = P.build(res)
    assert [r.subnet for r in pt.rows] == [f"w{w:g}_d{d:g}" for w in WIDTHS for d in DEPTHS]
    assert pt.seq_len == 128
    assert pt.runtimes == ["pytorch", "onnxruntime-cpu", "onnxruntime-mobile", "executorch-xnnpack"]
    arts = [a for a in res["artifacts"] if a["export_status"] != "failed"]
    ok_rows = [r for r in res["rows"] if r["threads"] == 1 and r["seq_len"] == 128 and r["export_status"] != "failed"]
    ref = next(r["p50_ms"] for r in ok_rows if r["artifact"] == "w1_d1/onnx" and r["runtime"] == "onnxruntime-cpu")
    lat_pts = {a["id"]: (_own_p50(res, a), a["metric"]) for a in arts}
    size_pts = {a["id"]: (float(a["bytes"]), a["metric"]) for a in arts}
    lat_front = {i for i, p in lat_pts.items() if not _dominated(p, list(lat_pts.values()))}
    size_front = {i for i, p in size_pts.items() if not _dominated(p, list(size_pts.values()))}
    assert set(pt.latency_front) == lat_front and set(pt.size_front) == size_front
    assert 1 < len(lat_front) < len(arts) and 1 < len(size_front) < len(arts)
    for row in pt.rows:
        mine = [a for a in arts if a["subnet"] == row.subnet]
        assert row.metric_pytorch == next(a["metric"] for a in mine if a["format"] == "hf")
        assert row.metric_int8 == max(a["metric"] for a in mine if a["precision"] == "int8")
        small = min((a for a in mine if a["format"] != "hf"), key=lambda a: a["bytes"])
        assert (row.smallest, row.bytes, row.deflate_bytes) == (small["id"], small["bytes"], small["deflate_bytes"])
        cells = [r for r in ok_rows if r["subnet"] == row.subnet]
        for runtime in pt.runtimes:
            assert row.p50[runtime][0] == min(r["p50_ms"] for r in cells if r["runtime"] == runtime)
        assert row.speedup == pytest.approx(ref / min(r["p50_ms"] for r in cells))
        assert set(row.latency_front) == {a["id"] for a in mine} & lat_front
        assert set(row.size_front) == {a["id"] for a in mine} & size_front
    assert "w1_d1/onnx-int8" not in pt.candidates


def test_pick_table_comes_first_in_table_md_and_the_cli_summary():
    from device_bench import table
    from device_bench.pick_table import build

    res = synthetic_results()
    md = table.markdown(res)
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[0].startswith("## Pick table") and "## Latency" in md.split("## Pick table")[1]
    pick_part = md.split("## Pick table")[1].split("\n## ")[0]
    rows = [line for line in pick_part.splitlines() if line.startswith("| w")]
    assert len(rows) == len(WIDTHS) * len(DEPTHS)
    pt = build(res)
    for line, row in zip(rows, pt.rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == row.subnet
        marks = cells[-1]
        assert ("latency" in marks) == bool(row.latency_front) and ("size" in marks) == bool(row.size_front)
    summary = table.summary(res)
    assert summary.splitlines()[0].startswith("Pick table") and sum(x.startswith("| w") for x in summary.splitlines()) \
        == len(rows)


def test_each_front_models_pick_command_selects_that_model(tmp_path, capsys):
    import shlex

    from device_bench import pick
    from device_bench.pick_table import build, pick_command

    res = synthetic_results()
    path = tmp_path / "results.json"
    path.write_text(json.dumps(res))
    pt = build(res)
    fronts = set(pt.latency_front) | set(pt.size_front)
    assert fronts
    for ident in sorted(fronts):
        cmd = pick_command(pt, ident, str(path))
        assert cmd is not None, ident
        argv = shlex.split(cmd)
        assert argv[:3] == ["python", "-m", "device_bench.pick"]
        argv = argv[3:]
        install = "--install-into" in argv
        assert install == (pt.candidates[ident].artifact["format"] in ("onnx", "onnx-int8", "ort", "ort-int8"))
        if install:  # the app-only candidate set is what --install-into ranks; installing needs a real export
            argv = argv[:argv.index("--install-into")]
            chosen = pick.best(pick.candidates(res, max_latency_ms=_opt(argv, "--max-latency-ms"),
                                               max_mb=_opt(argv, "--max-mb"), app_only=True))
            assert chosen.artifact["id"] == ident
        assert pick.main(argv) == 0
        out = capsys.readouterr().out
        if not install:
            assert f"best: {ident} " in out, (cmd, out)


def _opt(argv: list[str], name: str) -> float | None:
    return float(argv[argv.index(name) + 1]) if name in argv else None


def test_pick_explains_its_choice(tmp_path, capsys):
    from device_bench import pick

    res = synthetic_results()
    path = tmp_path / "results.json"
    path.write_text(json.dumps(res))
    argv = ["--results", str(path), "--max-latency-ms", "3", "--max-mb", "15"]
    assert pick.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    cands = pick.candidates(res, max_latency_ms=3, max_mb=15)
    ranked = sorted(cands, key=pick.rank_key)
    chosen = pick.best(cands)
    assert out[1].startswith(f"best: {chosen.artifact['id']} ")
    fits = [c for c in ranked if not c.why_not and c is not chosen]
    runners = [line for line in out if line.startswith("  runner-up: ")]
    assert [r.split()[1] for r in runners] == [c.artifact["id"] for c in fits[:3]]
    rejected = {line.split()[1]: line.split(" -- ")[1] for line in out if line.startswith("  rejected: ")}
    above = ranked[:ranked.index(chosen)]
    assert above and set(rejected) == {c.artifact["id"] for c in above}
    for c in above:  # the constraint it missed, as measured
        assert rejected[c.artifact["id"]] == "; ".join(c.why_not)
        assert (f"p50 {c.p50_ms:.3g} ms > 3 ms" in rejected[c.artifact["id"]]) == (c.p50_ms > 3)
        assert (f"{c.mb:.2f} MB > 15 MB" in rejected[c.artifact["id"]]) == (c.mb > 15)

    assert pick.main([*argv, "--explain"]) == 0
    out = capsys.readouterr().out.splitlines()
    ranking = [line for line in out if line[:6].strip().rstrip(".").isdigit()]
    assert len(ranking) == len(cands)
    assert [line.split()[1] for line in ranking] == [c.artifact["id"] for c in ranked]
    assert sum(line.endswith("-- chosen") for line in ranking) == 1
    assert sum("-- fits" in line for line in ranking) == len(fits)


# ---------------------------------------------------------------------------------------------- real browser

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
                 if Path(p).exists()), None)


class _DevTools:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, NUL-separated
    JSON): no websocket client and no downloaded browser driver needed, only the Debian chromium."""

    def __init__(self, profile: Path) -> None:
        import os
        import subprocess

        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def wire() -> None:  # in the child: our pipe ends become its fds 3 and 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=wire)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read(self, timeout: float) -> dict:
        import os
        import select

        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._r], [], [], timeout)
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        import os

        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        for e in self.events:
            if e.get("method") == method:
                return e
        while True:
            e = self._read(timeout)
            self.events.append(e)
            if e.get("method") == method:
                return e

    def close(self) -> None:
        import os

        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # the browser may already be gone; it is killed below either way
            pass
        for fd in (self._w, self._r):
            os.close(fd)
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_report_in_headless_chromium(tmp_path):
    from device_bench import report

    res = synthetic_results()
    out = tmp_path / "bench"
    out.mkdir()
    report.write_report(res, out)
    page = out / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text, "the page must not reference the network"

    cdp = _DevTools(tmp_path / "profile")
    try:
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sess = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable", session=sess)
        cdp.send("Page.navigate", {"url": page.as_uri()}, session=sess)
        cdp.wait_event("Page.loadEventFired")

        def js(expr: str):
            r = cdp.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=sess)
            assert "exceptionDetails" not in r, r
            return r["result"].get("value")

        assert js("document.querySelectorAll('#pick tbody tr').length") == len(WIDTHS) * len(DEPTHS)
        assert js("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert js("document.images.length") == 3

        # A real click (mouse events at the header's position) on the pick table's "MB" column.
        col = js("Array.from(document.querySelectorAll('#pick thead th')).findIndex(th => th.textContent == 'MB')")
        assert col > 0
        js(f"document.querySelectorAll('#pick thead th')[{col}].scrollIntoView()")
        box = js(f"(() => {{const r = document.querySelectorAll('#pick thead th')[{col}].getBoundingClientRect();"
                 f"return [r.x + r.width / 2, r.y + r.height / 2];}})()")
        column = f"Array.from(document.querySelectorAll('#pick tbody tr')).map(tr => tr.cells[{col}].textContent)"
        before = [float(x) for x in js(column)]
        assert before != sorted(before), "the fixture's pick table must not start sorted by size"
        for _ in range(2):
            for kind in ("mousePressed", "mouseReleased"):
                cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                      "clickCount": 1}, session=sess)
            after = [float(x) for x in js(column)]
            assert sorted(after) == sorted(before)
            if _ == 0:
                assert after == sorted(after), "one click sorts ascending"
            else:
                assert after == sorted(after, reverse=True), "a second click sorts descending"

        # The filters hide the long tables' rows that do not match.
        n = js("document.querySelectorAll('#long1 tbody tr').length")
        js("(() => {const s = document.querySelector(\"select[data-key='threads']\"); s.value = '2';"
           "s.dispatchEvent(new Event('change'));})()")
        visible = js("Array.from(document.querySelectorAll('#long1 tbody tr')).filter(tr => tr.style.display != 'none')"
                     ".map(tr => tr.dataset.threads)")
        assert visible and len(visible) < n and set(visible) == {"2"}

        errors = [e for e in cdp.events if e.get("method") == "Runtime.exceptionThrown"
                  or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
                  or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")]
        assert not errors, errors
        requests = [e["params"]["request"]["url"] for e in cdp.events if e.get("method") == "Network.requestWillBeSent"]
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
    finally:
        cdp.close()


# ---------------------------------------------------------------------------------------------- real tiny export


def test_real_bench_pick_table_report_and_commands(bench, tmp_path, capsys):
    import html
    import re
    import shlex

    from device_bench import pick
    from device_bench.adb import folder_name
    from device_bench.pick_table import build, pick_command

    results, out = bench
    md = (out / "table.md").read_text()
    first = md.split("\n## ", 2)[1]
    assert first.startswith("Pick table")
    names = sorted({s["name"] for s in results["subnets"]})
    assert sorted(line.split("|")[1].strip() for line in first.splitlines() if line.startswith("| w")) == names
    assert (out / "grid.png").is_file()
    page = (out / "report.html").read_text()
    assert re.findall(r'<img src="([^"]{0,22})', page) and all(
        s.startswith("data:image/png;base64,") for s in re.findall(r'<img src="([^"]{0,22})', page))
    assert "<script src" not in page and "<link" not in page
    pt = build(results)
    shown = [html.unescape(c) for c in re.findall(r"<code>(python -m device_bench\.pick [^<]*)</code>", page)]
    fronts = sorted(set(pt.latency_front) | set(pt.size_front))
    assert fronts and shown
    demo = tmp_path / "android_demo"
    (demo / "app" / "src" / "main" / "assets").mkdir(parents=True)
    for ident in fronts:
        cmd = pick_command(pt, ident, shlex.quote(str(out / "results.json")))
        if cmd is None:
            continue
        assert cmd in shown, "the report shows the command"
        argv = shlex.split(cmd)[3:]
        if "--install-into" in argv:
            argv[argv.index("--install-into") + 1] = str(demo)
        assert pick.main(argv) == 0, cmd
        assert capsys.readouterr().out.splitlines()[1].startswith(f"best: {ident} "), cmd
        if "--install-into" in argv:
            card = json.loads((demo / "app/src/main/assets/models" / folder_name(ident) / "model_card.json")
                              .read_text())
            assert card["source"]["artifact"] == ident

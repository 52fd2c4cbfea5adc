"""``python -m quickstart``: the steps it runs, in order, what it skips on a re-run, how it fails.

The steps themselves are each stage's own command (tested in their own modules); here they are recorded
instead of run, so the driver's logic is checked in a second. The real road's timing is measured by running
it (README, closing note)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import quickstart.__main__ as road


class _Recorder:
    def __init__(self, fail_on: str | None = None, code: int = 2):
        self.calls: list[list[str]] = []
        self.fail_on, self.code = fail_on, code

    def __call__(self, cmd, cwd=None, **_):
        self.calls.append([str(c) for c in cmd])
        joined = " ".join(str(c) for c in cmd)
        return subprocess.CompletedProcess(cmd, self.code if self.fail_on and self.fail_on in joined else 0)


@pytest.fixture
def demo(tmp_path) -> Path:
    d = tmp_path / "android_demo"
    (d / "app" / "src" / "main" / "assets").mkdir(parents=True)
    return d


def _modules(calls: list[list[str]]) -> list[str]:
    return [c[2] if c[0] == sys.executable else Path(c[1]).name for c in calls]


def test_a_fresh_run_trains_exports_benches_picks_and_builds(tmp_path, demo, monkeypatch, capsys):
    rec = _Recorder()
    monkeypatch.setattr(road.subprocess, "run", rec)
    monkeypatch.setattr(road.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert road.main(["--out", str(tmp_path / "run"), "--install-into", str(demo), "--max-latency-ms", "4"]) == 0
    assert _modules(rec.calls) == ["train.all", "export.all", "device_bench", "device_bench.pick", "build_apk.sh"]
    train, export, bench, pick, apk = rec.calls
    assert "--preset" in train and "quickstart" in train and "--resume" not in train
    assert export[export.index("--ckpt") + 1] == str(tmp_path / "run" / "finetune" / "checkpoint")
    assert "--no-bench" in export  # device_bench runs once, as its own step, with the road's settings
    formats = export[export.index("--formats") + 1].split(",")
    assert "pte" not in formats and {"hf", "onnx", "onnx-int8", "ort", "ort-int8"} <= set(formats)
    assert bench[bench.index("--seq-lens") + 1] == "32" and "--fast" in bench
    assert pick[pick.index("--max-latency-ms") + 1] == "4" and pick[pick.index("--install-into") + 1] == str(demo)
    assert apk[apk.index("--abis") + 1] == "arm64-v8a"
    printed = capsys.readouterr().out
    assert "report.html" in printed and "table.md" in printed and str(demo / "app/src/main/assets/models") in printed


def test_a_rerun_skips_finished_training_and_resumes_an_interrupted_one(tmp_path, demo, monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(road.subprocess, "run", rec)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("seed: 42\n")
    assert road.main(["--out", str(run), "--install-into", str(demo), "--no-apk"]) == 0
    assert "--resume" in rec.calls[0]  # a run folder without a final checkpoint: resume it
    rec.calls.clear()
    (run / "finetune" / "checkpoint").mkdir(parents=True)
    (run / "finetune" / "checkpoint" / "dynabert.json").write_text("{}")
    assert road.main(["--out", str(run), "--install-into", str(demo), "--no-apk"]) == 0
    assert _modules(rec.calls) == ["export.all", "device_bench", "device_bench.pick"]


def test_no_toolchain_means_no_apk_and_says_why(tmp_path, demo, monkeypatch, capsys):
    monkeypatch.setattr(road.subprocess, "run", _Recorder())
    monkeypatch.setattr(road.shutil, "which", lambda tool: None)
    assert road.main(["--out", str(tmp_path / "run"), "--install-into", str(demo)]) == 0
    assert "Android toolchain not installed" in capsys.readouterr().out


def test_a_failing_step_stops_the_road_with_its_exit_code(tmp_path, demo, monkeypatch, capsys):
    rec = _Recorder(fail_on="export.all", code=2)
    monkeypatch.setattr(road.subprocess, "run", rec)
    with pytest.raises(SystemExit) as exc:
        road.main(["--out", str(tmp_path / "run"), "--install-into", str(demo), "--no-apk"])
    assert exc.value.code == 2
    assert _modules(rec.calls) == ["train.all", "export.all"]
    err = capsys.readouterr().err
    assert "the export step failed (exit 2)" in err and "run the same command again" in err


@pytest.mark.parametrize("bad", [["--max-latency-ms", "nan"], ["--max-latency-ms", "0"], ["--max-mb", "-1"],
                                 ["--max-mb", "inf"], ["--bogus"]])
def test_bad_options_are_one_line_and_exit_2(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        road.parse_args(bad)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quickstart: error:")


def test_start_up_is_quiet_with_the_executorch_extra():
    # With the executorch extra, importing it (export, device_bench) or torchao (transformers probes for it)
    # printed "Failed to load .../torchao/_C_mxfp8...so" lines, pytree warnings and C++ CPU probing.
    import importlib.util

    if importlib.util.find_spec("executorch") is None:
        pytest.skip("executorch extra not installed (pip install -e '.[executorch]')")
    code = ("import dynabert, torchao, executorch.exir\n"
            "from device_bench.runtimes import set_executorch_threads, unavailable_reason\n"
            "assert unavailable_reason('executorch-xnnpack') is None\n"
            "set_executorch_threads(1)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(road.__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    for noise in ("Failed to load", "_pytree", "cpuinfo", "threadpool"):
        assert noise not in proc.stderr, proc.stderr[-2000:]

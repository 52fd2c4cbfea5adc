"""The README's main job (the core demo) and the forward benchmark run end to end on the packaged MiniLM."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.mark.minilm
def test_demo_writes_twelve_reloadable_submodels(tmp_path, capsys):
    from dynabert.demo import main

    assert main(["--out", str(tmp_path)]) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 12 and "w0.25_d0.5" in folders
    assert (tmp_path / "w0.25_d0.5" / "model.safetensors").is_file()
    assert "worst slice-vs-sub-network difference" in capsys.readouterr().out


def test_demo_reports_a_bad_backbone_in_one_line(tmp_path, capsys):
    from dynabert.demo import main

    assert main(["--backbone", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.minilm
def test_forward_benchmark_writes_ratios(tmp_path):
    import subnet_forward

    out = tmp_path / "bench.json"
    subnet_forward.main(["--batch", "1", "--seq-len", "16", "--rounds", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 12 and rows[0]["time_ratio"] == 1.0 and rows[0]["flops_ratio"] == 1.0
    assert rows[-1]["flops_ratio"] < 0.2

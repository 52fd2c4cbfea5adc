"""The table a user picks from (issue 15): the pick table, the plots, the self-contained report, ``pick
--explain``, and the exported ONNX folders loading in place with optimum and ``transformers.pipeline``.

The tiny exported set is tests/test_device_bench.py's fixture (4 sub-models); the 12-row pick table and the
report are also checked on a synthetic 4 x 3 results dict, whose numbers are built so the fronts are known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_device_bench import bench, tiny_export  # noqa: F401  (fixtures, reused as they are)

# ---------------------------------------------------------------------------------------------- optimum


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_onnx_folders_load_in_place_with_optimum_and_pipeline(tiny_export, fmt):  # noqa: F811
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
        "schema": "dynabert-edge/device-bench/1", "created": "2026-12-01T00:00:00Z", "manifest": "/nowhere/m.json",
        "task": "sst2", "metric_name": "accuracy", "dev": {"path": "dev.tsv", "examples": 872, "fingerprint": "x"},
        "dev_reason": None, "teacher_metric": {"value": 0.91, "source": "given"}, "full_subnet": "w1_d1",
        "environment": {"cpu": "test cpu", "cores": 2, "platform": "linux", "versions": {"onnxruntime": "1"}},
        "settings": {"seq_lens": [32, 128], "warmup": 1, "min_runs": 5, "min_seconds": 0.02, "spread_limit": 1.5},
        "subnets": subnets, "artifacts": artifacts, "skipped": [], "rows": rows, "android": {"status": "off"},
        "rss_method": "none", "wall_seconds": 1.0,
    }

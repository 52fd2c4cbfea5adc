"""The table a user picks from (issue 15): the pick table, the plots, the self-contained report, ``pick
--explain``, and the exported ONNX folders loading in place with optimum and ``transformers.pipeline``.

The tiny exported set is tests/test_device_bench.py's fixture (4 sub-models); the 12-row pick table and the
report are also checked on a synthetic 4 x 3 results dict, whose numbers are built so the fronts are known.
"""

from __future__ import annotations

import json
from pathlib import Path

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

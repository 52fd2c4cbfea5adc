"""Latency on an Android phone through ``adb`` and the demo app's benchmark mode.

The app benchmarks the models bundled in its APK (``python -m device_bench.pick --install-into
android_demo``, then build and install it: see ``android_demo/README.md``). For each thread count and
sequence length this module:

1. clears logcat (``adb logcat -c``);
2. starts ``org.dynabert.edge.demo/.BenchmarkActivity`` with the extras of the README's "Benchmark mode"
   (``runs``, ``warmup``, ``threads``, ``models``, ``out``, ``finish``) and ``text``: dev-set words making
   exactly the wanted number of tokens (the app tokenizes it itself, as the desktop runs do);
3. polls ``adb logcat -d -s DynaBertBench`` for ``DYNABERT_BENCH_DONE <path>`` or
   ``DYNABERT_BENCH_FAILED <reason>``;
4. pulls the JSON (``dynabert-edge/android-bench/v1``) into ``<out>/android/`` and turns each model entry
   into a table row (runtime ``android-onnxruntime``; the app reports median and p90, not p99).

Nothing here runs on this machine (no phone); the tests drive it with a fake ``adb`` that records its
calls and replays recorded output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dynabert import runtimes as catalogue
from dynabert.fileio import atomic_file

from .manifest_reader import Artifact, BenchError, Manifest

PACKAGE = "org.dynabert.edge.demo"
ACTIVITY = f"{PACKAGE}/.BenchmarkActivity"
TAG = "DynaBertBench"
DONE = "DYNABERT_BENCH_DONE"
FAILED = "DYNABERT_BENCH_FAILED"
REMOTE_DIR = f"/sdcard/Android/data/{PACKAGE}/files"
SCHEMA = "dynabert-edge/android-bench/v1"
#: The phone's runtime (the demo app bundles ONNX Runtime only) and the formats it can install and measure.
RUNTIME = "android-onnxruntime"
APP_FORMATS: tuple[str, ...] = catalogue.get(RUNTIME).formats or ()


class AdbError(BenchError):
    """adb failed; the message has the command and what adb said."""


def folder_name(artifact_id: str) -> str:
    """The assets folder ``pick --install-into`` uses: ``w0.5_d0.5/ort-int8`` -> ``w0.5_d0.5_ort-int8``."""
    return artifact_id.replace("/", "_")


def find_adb() -> str | None:
    return os.environ.get("ADB") or shutil.which("adb")


@dataclass
class Adb:
    exe: str
    serial: str | None = None
    timeout: float = 120.0

    def __call__(self, *args: str, check: bool = True) -> str:
        cmd = [self.exe, *(["-s", self.serial] if self.serial else []), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise AdbError(f"`{shlex.join(cmd)}` timed out after {self.timeout:.0f} s") from None
        except OSError as exc:
            raise AdbError(f"cannot run {self.exe}: {exc}") from None
        if check and proc.returncode != 0:
            raise AdbError(f"`{shlex.join(cmd)}` failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:] or ''}")
        return proc.stdout

    def devices(self) -> list[str]:
        """Serials of attached devices in the ``device`` state (not offline / unauthorized)."""
        out = Adb(self.exe, None, self.timeout)("devices")
        serials = []
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and parts[1] == "device":
                serials.append(parts[0])
        return serials

    def app_installed(self) -> bool:
        return f"package:{PACKAGE}" in self("shell", "pm", "list", "packages", PACKAGE).split()


def benchmark(adb: Adb, *, out_name: str, local_dir: Path, runs: int = 50, warmup: int = 5, threads: int = 0,
              models: str = "all", text: str | None = None, timeout_s: float = 600.0,
              poll_s: float = 2.0) -> dict:
    """One benchmark-mode run on the phone; returns the pulled result JSON (its ``local_path`` added)."""
    if "/" in out_name or out_name.startswith("."):
        raise BenchError(f"out name must be a plain file name, got {out_name!r}")
    adb("logcat", "-c")
    extras = ["--es", "runs", str(runs), "--es", "warmup", str(warmup), "--es", "threads", str(threads),
              "--es", "models", models, "--es", "out", out_name, "--es", "finish", "true"]
    if text is not None:
        extras += ["--es", "text", text]
    # `adb shell` joins its arguments into one command line for the phone's shell: quote each one.
    adb("shell", shlex.join(["am", "start", "-W", "-n", ACTIVITY, *extras]))
    deadline = time.monotonic() + timeout_s
    remote = None
    while True:
        log = adb("logcat", "-d", "-s", f"{TAG}:*")
        failed = re.search(rf"{FAILED}\s+(.*)", log)
        if failed:
            raise AdbError(f"the app's benchmark failed on the phone: {failed.group(1).strip()}")
        done = re.search(rf"{DONE}\s+(\S+)", log)
        if done:
            remote = done.group(1)
            break
        if time.monotonic() > deadline:
            raise AdbError(f"no {DONE} line in logcat after {timeout_s:.0f} s (is the screen on and the app "
                           f"allowed to start?)")
        time.sleep(poll_s)
    if not remote.endswith("/" + out_name):
        remote = f"{REMOTE_DIR}/{out_name}"
    local = local_dir / out_name
    with atomic_file(local) as tmp:  # a pull cut short leaves no half file under the final name
        adb("pull", remote, str(tmp))
        try:
            result = json.loads(tmp.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AdbError(f"pulled {remote} is not valid JSON: {exc}") from None
    if result.get("schema") != SCHEMA:
        raise AdbError(f"{local}: schema {result.get('schema')!r}, expected {SCHEMA}")
    if result.get("status") == "error":
        raise AdbError(f"the app reported an error: {result.get('error')}")
    result["local_path"] = str(local)
    return result


def maybe_run(mode: str, manifest: Manifest, artifacts: list[Artifact], texts: dict[int, str], options: dict,
              out: Path) -> dict:
    """Run the phone benchmark when ``mode`` asks for it and a phone is there; else say why not.

    ``mode``: "off", "auto" (when adb sees a device with the app installed) or "on" (an error otherwise).
    ``options``: ``serial``, ``threads`` (list), ``runs``, ``warmup``, ``timeout_s``, ``poll_s``, ``apk``.
    """
    if mode == "off":
        return {"status": "not run", "reason": "disabled (--android off)"}
    if mode not in ("auto", "on"):
        raise BenchError(f"--android must be auto, on or off, got {mode!r}")

    def unavailable(reason: str) -> dict:
        if mode == "on":
            raise BenchError(f"android: {reason}")
        return {"status": "not run", "reason": reason}

    exe = find_adb()
    if exe is None:
        return unavailable("adb not found (install platform-tools or set $ADB)")
    try:
        probe = Adb(exe, None, float(options.get("timeout_adb", 30)))
        serials = probe.devices()
        serial = options.get("serial") or (serials[0] if serials else None)
        if serial is None:
            return unavailable("no Android device attached (adb devices lists none)")
        if serial not in serials:
            return unavailable(f"device {serial} is not attached (attached: {', '.join(serials) or 'none'})")
        adb = Adb(exe, serial, float(options.get("timeout_adb", 120)))
        if options.get("apk"):
            adb("install", "-r", str(options["apk"]))
        if not adb.app_installed():
            return unavailable(f"the demo app ({PACKAGE}) is not installed on {serial}: bundle models with "
                               f"`python -m device_bench.pick --install-into android_demo`, build, `adb install`")
        runs = []
        for threads in options.get("threads") or [1, 2]:
            for seq, text in sorted(texts.items()):
                result = benchmark(adb, out_name=f"bench_s{seq}_t{threads}.json", local_dir=out / "android",
                                   runs=int(options.get("runs", 50)), warmup=int(options.get("warmup", 5)),
                                   threads=int(threads), text=text, timeout_s=float(options.get("timeout_s", 900)),
                                   poll_s=float(options.get("poll_s", 2.0)))
                runs.append({"seq_len": seq, "threads": int(threads), "result": result})
    except AdbError as exc:
        if mode == "on":
            raise
        return {"status": "error", "reason": str(exc)}
    return {"status": "ok", "serial": serial, "runs": runs}


def _match(entry: dict, artifacts: list[Artifact]) -> Artifact | None:
    by_folder = {folder_name(a.id): a for a in artifacts}
    if entry.get("folder") in by_folder:
        return by_folder[entry["folder"]]
    for a in artifacts:  # a folder named by hand: match on what its card says
        fmt = "ort" if a.format.startswith("ort") else "onnx"
        if (a.format in APP_FORMATS and entry.get("format") == fmt and entry.get("precision") == a.precision
                and float(entry.get("width_mult", -1)) == a.width_mult
                and float(entry.get("depth_mult", -1)) == a.depth_mult):
            return a
    return None


def rows_from(android: dict, manifest: Manifest, artifacts: list[Artifact], desktop_rows: list[dict]) -> list[dict]:
    """Table rows of the phone runs (ratios to the full model measured on the phone in the same run)."""
    if android.get("status") != "ok":
        return []
    desktop = {(r["artifact"], r["seq_len"]): r for r in desktop_rows}
    full = manifest.full_subnet
    rows = []
    for run in android["runs"]:
        result = run["result"]
        dev = result.get("device") or {}
        device = " ".join(str(dev.get(k)) for k in ("manufacturer", "model") if dev.get(k)) or "android"
        entries = []
        for entry in result.get("models", []):
            artifact = _match(entry, artifacts)
            entries.append((entry, artifact))
        medians = {a.id: e["model_ms"]["median"] for e, a in entries
                   if a is not None and e.get("status") == "ok" and e.get("model_ms")}
        for entry, artifact in entries:
            base = {"artifact": artifact.id if artifact else entry.get("folder") or entry.get("name"),
                    "subnet": artifact.subnet if artifact else None,
                    "width_mult": artifact.width_mult if artifact else entry.get("width_mult"),
                    "depth_mult": artifact.depth_mult if artifact else entry.get("depth_mult"),
                    "format": artifact.format if artifact else entry.get("format"),
                    "precision": artifact.precision if artifact else entry.get("precision"),
                    "runtime": RUNTIME, "threads": run["threads"], "seq_len": run["seq_len"], "device": device}
            if entry.get("status") != "ok" or not entry.get("model_ms"):
                rows.append({**base, "status": "n/a", "reason": f"failed on the phone: {entry.get('error')}"})
                continue
            stats = entry["model_ms"]
            p50, p90 = float(stats["median"]), float(stats["p90"])
            row = {**base, "status": "ok", "reason": None, "n": stats.get("count"), "p50_ms": p50, "p90_ms": p90,
                   "p99_ms": None, "mean_ms": stats.get("mean"), "min_ms": stats.get("min"),
                   "max_ms": stats.get("max"), "spread": p90 / p50 if p50 > 0 else None,
                   "unstable": bool(p50 <= 0 or p90 / p50 > 1.5), "load_ms": entry.get("load_ms"),
                   "first_inference_ms": None}
            seq_min, seq_max = entry.get("seq_len_min"), entry.get("seq_len_max")
            if seq_max is not None and seq_max != run["seq_len"]:
                row["reason"] = f"the app ran {seq_min}-{seq_max} tokens, not {run['seq_len']}"
            if artifact is not None:
                full_id = f"{full}/{artifact.format}"
                row["vs_full"] = p50 / medians[full_id] if medians.get(full_id) else None
                onnx_full = medians.get(f"{full}/onnx")
                row["vs_full_onnx_fp32"] = p50 / onnx_full if onnx_full else None
                desk = desktop.get((artifact.id, run["seq_len"]), {})
                for k in ("metric", "metric_vs_pytorch", "metric_vs_teacher", "bytes", "deflate_bytes", "flops",
                          "flops_ratio", "params_embeddings", "params_encoder", "params_head", "export_status"):
                    row[k] = desk.get(k)
                if row.get("vs_full") and row.get("flops_ratio") and artifact.subnet != full:
                    row["flops_efficiency"] = row["flops_ratio"] / row["vs_full"]
            rows.append(row)
    return rows

"""Peak resident memory of each model, each in a process of its own.

In the benchmark process every model is loaded at once, so its RSS says nothing about one model. Here a
helper process per runtime imports that runtime (and nothing else) once, then forks one child per model.
The child resets the kernel's peak-RSS counter (``/proc/self/clear_refs`` = 5), notes its RSS, loads the
model, runs one inference at the longest measured length and reads ``VmHWM``:

- ``peak_rss_bytes``: the child's peak RSS: runtime libraries + model + one inference (what the process
  of an app holding only this model would peak at, before the app's own memory);
- ``model_rss_bytes``: that peak minus the RSS before loading: what the model itself adds.

Linux only (``/proc``); elsewhere the columns say "n/a" with the reason.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dynabert import runtimes as catalogue

from .manifest_reader import Artifact

# Which helper process serves a runtime, and what it imports once (including what transformers imports
# lazily on the first model, so each forked child starts loading its model at once instead of importing
# for seconds): the catalogue entry's ``memory_family`` and ``imports`` (dynabert.runtimes).


@dataclass(frozen=True)
class MemoryJob:
    key: str
    runtime: str
    artifact: Artifact
    threads: int
    feed: dict


def unavailable_reason() -> str | None:
    if not sys.platform.startswith("linux") or not Path("/proc/self/status").is_file():
        return "peak RSS is read from /proc (Linux only)"
    if not hasattr(os, "fork"):
        return "needs os.fork"
    return None


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _child(job: MemoryJob) -> dict:
    from .runtimes import load

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS, so the helper's own import peak is not counted
        reset = True
    except OSError:
        reset = False
    before = _status_kb("VmRSS") * 1024
    runner = load(job.runtime, job.artifact, job.threads)
    runner.run(job.feed)
    peak = _status_kb("VmHWM") * 1024
    return {"peak_rss_bytes": peak, "model_rss_bytes": peak - before, "hwm_reset": reset}


def _serve(family: str, jobs: list[MemoryJob]) -> dict[str, dict]:
    """Runs in the helper process: import the runtime once, fork a child per job."""
    import importlib
    import warnings

    warnings.filterwarnings("ignore")
    for spec in dict.fromkeys(m for r in catalogue.HOST.values() if r.memory_family == family for m in r.imports):
        module, _, names = spec.partition(":")
        imported = importlib.import_module(module)
        for name in filter(None, names.split(",")):
            getattr(imported, name)  # "module:attr": resolves a lazily imported attribute (transformers' models)
    results: dict[str, dict] = {}
    for job in jobs:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns into the caller's code
            os.close(read)
            try:
                record = _child(job)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, the child exits either way
                record = {"error": f"{type(exc).__name__}: {exc}"}
            with os.fdopen(write, "w") as fh:
                fh.write(json.dumps(record))
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as fh:
            text = fh.read()
        _, status = os.waitpid(pid, 0)
        try:
            results[job.key] = json.loads(text)
        except ValueError:
            results[job.key] = {"error": f"the measuring process died (wait status {status})"}
    return results


def measure(jobs: list[MemoryJob], workers: int = 1) -> dict[str, dict]:
    """``{job.key: {"peak_rss_bytes", "model_rss_bytes"} or {"error"}}`` for every job."""
    reason = unavailable_reason()
    if reason:
        return {job.key: {"error": reason} for job in jobs}
    by_family: dict[str, list[MemoryJob]] = {}
    for job in jobs:
        by_family.setdefault(catalogue.get(job.runtime).memory_family, []).append(job)
    results: dict[str, dict] = {}
    # spawn: a clean interpreter per runtime family, so one family's libraries do not count in another's RSS.
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes=max(1, min(workers, len(by_family)))) as pool:
        for part in pool.starmap(_serve, list(by_family.items())):
            results.update(part)
    return results

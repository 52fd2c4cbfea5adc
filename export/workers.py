"""The worker processes that build artifacts in parallel, and their life cycle.

Spawned, not forked: the main process has already run torch (OpenMP threads do not survive a fork), and
a spawned worker starts with a clean import state. A worker dies with the main process, so a ``kill -9``
of ``export.all`` leaves no orphan writing into the folder that the re-run is using.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import sys
import threading
import time

from .quiet import quiet_process

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
    parent = os.getppid()

    def watch() -> None:  # the portable fallback (macOS has no PDEATHSIG): poll for re-parenting
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init(threads: int) -> None:
    _die_with_parent()
    # Ctrl-C reaches every process of the terminal's group; only the main process answers it (one line and
    # the resume hint), then stops the workers (:func:`stop_pool`). A worker that handled it too would print
    # its own traceback, or finish its chain first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_process()
    import torch

    torch.set_num_threads(threads)


def make_pool(jobs: int, threads: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_init,
                                  initargs=(threads,))


def stop_pool(pool: cf.ProcessPoolExecutor, timeout: float = 10.0) -> None:
    """Stop the workers now, mid-task: what they were writing is under temporary names the caller removes."""
    # ProcessPoolExecutor can cancel only tasks that have not started; its workers are in ``_processes``.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    _wait_exited(processes, timeout)
    # One still alive after SIGTERM would outlive the command: kill it.
    for process in processes:
        if process.is_alive():
            process.kill()
    _wait_exited(processes, timeout)


def _wait_exited(processes: list, timeout: float) -> None:
    """Wait until each process has exited and says so, ``timeout`` seconds at most in all.

    Not ``join``: the pool's own management thread reaps a worker that dies (it joins them too), and when it
    wins that race our ``waitpid`` fails (ECHILD), ``join`` returns at once and ``is_alive()`` reads True until
    that thread has stored the exit code: the explanation that fits a fresh-clone CI run where a worker read
    alive after SIGTERM, SIGKILL and two joins (not reproduced alone). A process's sentinel is ready once it has
    exited, whoever reaps it; then ``is_alive()`` turns False as soon as the exit code is stored.
    """
    from multiprocessing.connection import wait

    end = time.monotonic() + timeout
    for process in processes:
        wait([process.sentinel], max(0.0, end - time.monotonic()))
        while process.is_alive() and time.monotonic() < end:
            time.sleep(0.01)


def run_chain_task(job, formats: list[str], sha_of: dict[str, str]) -> list[dict]:
    """What a worker runs (a module-level function, so the pool can pickle a reference to it)."""
    from .pipeline import run_chain

    return run_chain(job, formats, sha_of)

"""The resumable training state (``RUN/<stage>/state.pt``): saved atomically, loaded without pickle.

A run folder may come from someone else, so loading its state must never run code: the state holds
only tensors, numbers, strings, lists, tuples and dicts, and is read with ``torch.load(weights_only=True)``,
whose restricted unpickler refuses anything else (the classic ``__reduce__`` -> ``os.system`` payload
included). The RNG states are stored in that form too (numpy's key as a tensor, not an ndarray).
Every field is checked before it is trusted, so a state of the wrong shape is one line naming the file
and the field, not a traceback from deep inside PyTorch.

Saves are atomic (a temporary sibling, fsync, rename) and Ctrl-C is held back until the rename is done,
so an interrupt leaves either the previous complete state or the new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_FORMAT = "dynabert-edge/train-state"
STATE_VERSION = 2  # 1 was a plain pickle (numpy RNG as an ndarray) that only an unsafe load could read: refused now

#: field -> (accepted types, what the message calls it); checked on every load.
_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "stage": ((str,), "a stage name"),
    "step": ((int,), "an integer"),
    "total_steps": ((int,), "an integer"),
    "model": ((dict,), "a mapping of tensor names to tensors"),
    "optimizer": ((dict,), "an optimizer state"),
    "scheduler": ((dict,), "a scheduler state"),
    "scaler": ((dict,), "a loss-scaler state"),
    "rng": ((dict,), "the RNG states"),
    "best_score": ((int, float), "a number"),
    "best_step": ((int,), "an integer"),
    "elapsed": ((int, float), "a number"),
    "log_offset": ((int,), "an integer"),
    "extra": ((dict,), "a mapping"),
}


class StateError(RuntimeError):
    """A training state that cannot be trusted or used; the message names the file (and field)."""


# ---------------------------------------------------------------------------------------------- Ctrl-C


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block is done, then raise it.

    A save takes a second or two; an interrupt in the middle of ``torch.save`` surfaces from its C++
    writer as an internal RuntimeError, not as KeyboardInterrupt, and the user sees no resume hint.
    Only the main thread may install signal handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if previous is signal.default_int_handler:
            raise KeyboardInterrupt
        if callable(previous):
            previous(signal.SIGINT, None)


# ---------------------------------------------------------------------------------------------- RNG


def rng_state() -> dict[str, Any]:
    """Every RNG that training draws from, as tensors and plain numbers (loadable with weights_only)."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),  # (version, tuple of ints, None): plain values already
        "numpy": {"kind": str(kind), "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], path: Path) -> None:
    """Restore :func:`rng_state`'s output; a malformed entry is a :class:`StateError` naming it."""
    for name in ("python", "numpy", "torch"):
        if name not in state:
            raise StateError(f"{path}: field rng.{name} is missing")
    try:
        random.setstate(state["python"])
    except (TypeError, ValueError) as exc:
        raise StateError(f"{path}: field rng.python is not a Python RNG state ({exc})") from None
    numpy = state["numpy"]
    try:
        key = numpy["key"]
        if not isinstance(key, torch.Tensor) or key.shape != (624,):
            raise ValueError("key must be a tensor of 624 integers")
        np.random.set_state((numpy["kind"], key.numpy().astype(np.uint32), int(numpy["pos"]),
                             int(numpy["has_gauss"]), float(numpy["cached_gaussian"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{path}: field rng.numpy is not a numpy RNG state ({exc})") from None
    try:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
    except (TypeError, RuntimeError) as exc:
        raise StateError(f"{path}: field rng.torch is not a torch RNG state ({exc})") from None


# ---------------------------------------------------------------------------------------------- save / load


def save_state(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` (tensors and plain values only) atomically; Ctrl-C waits for the rename."""
    record = {"format": STATE_FORMAT, "version": STATE_VERSION, **state}
    tmp = path.with_name(f".{path.name}.tmp")
    with deferred_interrupt():
        try:
            with open(tmp, "wb") as handle:
                torch.save(record, handle)
                handle.flush()
                os.fsync(handle.fileno())  # the rename must not land before the bytes do
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # only left if the save failed before the rename


def load_state(path: Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state`, refusing code, foreign files and wrong shapes."""
    hint = "delete it to restart this stage from its beginning"
    try:
        # weights_only=True: the restricted unpickler builds tensors and plain containers, nothing else.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn file, a foreign one, or one that would run code: the user's move is the same
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = ("it holds objects other than tensors and numbers (refused, nothing in it was run)"
                  if "weights_only" in str(exc) or "Unsupported global" in str(exc)
                  else f"corrupt training state ({type(exc).__name__}: {first})")
        raise StateError(f"{path}: {reason}; {hint}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateError(f"{path}: not a dynabert-edge training state; {hint}")
    if state.get("version") != STATE_VERSION:
        raise StateError(f"{path}: training state version {state.get('version')!r} is not supported (this "
                         f"dynabert-edge reads version {STATE_VERSION}); {hint}")
    for name, (types, what) in _FIELDS.items():
        if name not in state:
            raise StateError(f"{path}: field {name} is missing; {hint}")
        value = state[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise StateError(f"{path}: field {name} should be {what}, got {type(value).__name__}; {hint}")
    bad = next((k for k, v in state["model"].items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise StateError(f"{path}: field model.{bad} is not a tensor; {hint}")
    if not 0 <= state["step"] <= state["total_steps"]:
        raise StateError(f"{path}: field step is {state['step']}, outside 0..{state['total_steps']}; {hint}")
    if state["log_offset"] < 0 or not math.isfinite(state["elapsed"]):
        raise StateError(f"{path}: field {'log_offset' if state['log_offset'] < 0 else 'elapsed'} is out of range; "
                         f"{hint}")
    return state


def restore(what: str, path: Path, load: Any, value: Any) -> None:
    """``load(value)`` (a ``load_state_dict``); a mismatch is a :class:`StateError` naming the field."""
    try:
        load(value)
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"{path}: field {what} does not fit this run ({first}); delete it to restart this stage "
                         "from its beginning") from None

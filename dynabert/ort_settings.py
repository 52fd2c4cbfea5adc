"""The per-file ONNX Runtime session settings: one plain dict, its checks, and how a session applies it.

The format that travels with an exported ONNX / ``.ort`` file in the manifest (artifact ``session_settings``)
and in the Android model card, read by every ONNX Runtime entry of the runtime catalogue
(:mod:`dynabert.runtimes`) and by export's verification::

    {"graph_optimization_level": "ORT_ENABLE_ALL", "disabled_optimizers": ["SkipLayerNormFusion"]}

Which settings a file gets is measured at export (:mod:`export.session_settings`); this module only
defines the format, so the reader (device_bench, the app) and the writer (export) share one definition.
"""

from __future__ import annotations

from typing import Any

#: The session config key (ONNX Runtime >= 1.17) that disables named graph optimizers; ';'-separated
#: (a ','-separated value is silently ignored: checked in tests/test_int8_speed.py).
DISABLE_KEY = "optimization.disable_specified_optimizers"
LEVELS = ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL")
KEYS = ("graph_optimization_level", "disabled_optimizers")

#: ONNX Runtime's own default: the reference every candidate has to beat.
DEFAULT: dict[str, Any] = {"graph_optimization_level": "ORT_ENABLE_ALL", "disabled_optimizers": []}


class SettingsError(ValueError):
    """A settings dict with an unknown key or value (one line, names the problem)."""


def validate(settings: dict[str, Any]) -> dict[str, Any]:
    """Return ``settings`` normalized (both keys present, names sorted); raise :class:`SettingsError`."""
    if not isinstance(settings, dict):
        raise SettingsError(f"session settings must be a JSON object, got {type(settings).__name__}")
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise SettingsError(f"unknown session setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    level = settings.get("graph_optimization_level", DEFAULT["graph_optimization_level"])
    if level not in LEVELS:
        raise SettingsError(f"graph_optimization_level {level!r} is not one of {', '.join(LEVELS)}")
    disabled = settings.get("disabled_optimizers", [])
    if not isinstance(disabled, list) or not all(isinstance(n, str) and n and ";" not in n for n in disabled):
        raise SettingsError(f"disabled_optimizers must be a list of optimizer names, got {disabled!r}")
    return {"graph_optimization_level": level, "disabled_optimizers": sorted(set(disabled))}


def config_entries(settings: dict[str, Any]) -> dict[str, str]:
    """The session config entries ``settings`` needs (what an app passes to ``addConfigEntry``)."""
    disabled = validate(settings)["disabled_optimizers"]
    return {DISABLE_KEY: ";".join(disabled)} if disabled else {}


def apply(settings: dict[str, Any], options=None):
    """Put ``settings`` on ``options`` (a new ``onnxruntime.SessionOptions`` if None) and return it."""
    import onnxruntime as ort

    settings = validate(settings)
    options = ort.SessionOptions() if options is None else options
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, settings["graph_optimization_level"])
    for key, value in config_entries(settings).items():
        options.add_session_config_entry(key, value)
    return options

"""ORT format (``.ort``) for ONNX Runtime Mobile, and the required-operators config of a reduced build.

Both come from onnxruntime's own tools (``convert_onnx_models_to_ort``, ``create_config_from_models``);
this module only runs them in a scratch folder so the results can be renamed into place atomically, and
keeps their chatter off the progress bar.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
from pathlib import Path

from dynabert.fileio import atomic_file

CONFIG_NAME = "required_operators.config"


def convert_to_ort(onnx_path: Path, scratch: Path, final: Path, session_settings: dict | None = None) -> dict:
    """Convert ``onnx_path`` to ORT format at ``final`` (fixed optimizations for an ARM target).

    ``session_settings`` (see :mod:`export.session_settings`) are applied while converting: an ``.ort``
    file holds the graph already optimized, so a fusion that must not happen (``disabled_optimizers``)
    has to be left out here; the session that loads the file cannot undo it.
    """
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    logging.getLogger("ort_format_model.utils").setLevel(logging.ERROR)  # see write_required_operators
    work = scratch / f"ort-{final.stem}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    src = work / "in" / "model.onnx"
    shutil.copyfile(onnx_path, src)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        # "arm": phones are ARM, so no x86-only NCHWc layouts, and QDQ int8 kernels are allowed.
        if session_settings:
            _convert_with_settings(src, work / "out", session_settings)
        else:
            convert_onnx_models_to_ort(src, output_dir=work / "out", optimization_styles=[OptimizationStyle.Fixed],
                                       target_platform="arm")
    produced = work / "out" / "model.ort"
    if not produced.is_file():
        raise RuntimeError(f"convert_onnx_models_to_ort wrote no .ort file: {log.getvalue()[-500:]}")
    with atomic_file(final) as tmp:
        shutil.copyfile(produced, tmp)
    shutil.rmtree(work, ignore_errors=True)
    record = {"optimization_style": "Fixed", "target_platform": "arm"}
    if session_settings:
        record["session_settings"] = session_settings
    return record


def _convert_with_settings(src: Path, out: Path, settings: dict) -> None:
    """What ``convert_onnx_models_to_ort(..., [Fixed], target_platform="arm")`` does, plus ``settings``.

    The tool cannot take them: it passes its own ``disabled_optimizers`` (the x86-only NCHWc layout) to
    the session, which overrides the config entry that disables fusions. So the same conversion is done
    here with the public session API: optimize at the settings' level with the tool's ARM config entry,
    disable the NCHWc layout and the settings' fusions, and save the result in ORT format.
    """
    import onnxruntime as ort

    from .session_settings import apply, validate

    settings = validate(settings)
    out.mkdir(parents=True, exist_ok=True)
    options = apply({**settings, "disabled_optimizers": []})
    options.optimized_model_filepath = str(out / "model.ort")
    options.add_session_config_entry("session.save_model_format", "ORT")
    options.add_session_config_entry("session.qdqisint8allowed", "1")  # the tool's entry for target "arm"
    options.log_severity_level = 3
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"],
                         disabled_optimizers=["NchwcTransformer", *settings["disabled_optimizers"]])


def write_required_operators(ort_files: list[Path], final: Path) -> None:
    """The operator list a reduced-size ORT Mobile build needs to run every file in ``ort_files``."""
    from onnxruntime.tools.ort_format_model.utils import create_config_from_models

    # The tool's logger is created at DEBUG level on import and announces every file it writes.
    logging.getLogger("ort_format_model.utils").setLevel(logging.ERROR)
    with atomic_file(final) as tmp:
        create_config_from_models(sorted(ort_files), tmp, enable_type_reduction=False)
    # The tool records absolute paths of the models in comments; keep the file portable.
    text = final.read_text()
    parent = final.parent
    lines = [line.replace(str(parent) + "/", "") if line.startswith("# - ") else line for line in text.splitlines()]
    with atomic_file(final) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
